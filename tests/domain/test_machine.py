"""The one state-machine type: creation paths, repeats, refusals and final states."""

from __future__ import annotations

from enum import StrEnum

import pytest

from gateway.domain.errors import InvalidTransition
from gateway.domain.machine import Machine


class Light(StrEnum):
    RED = "RED"
    GREEN = "GREEN"
    OFF = "OFF"


LIGHT = Machine(
    "light",
    Light,
    {(None, Light.RED): "installed", (Light.RED, Light.GREEN): "go", (Light.GREEN, Light.OFF): "switched off"},
)


def test_a_creation_path_is_checked_pair_by_pair() -> None:
    assert LIGHT.creation_path(Light.RED, Light.GREEN) == [(None, Light.RED), (Light.RED, Light.GREEN)]
    with pytest.raises(InvalidTransition):
        LIGHT.creation_path(Light.GREEN)  # a record cannot start there
    with pytest.raises(InvalidTransition):
        LIGHT.creation_path(Light.RED, Light.OFF)


def test_repeats_are_no_ops_and_the_rest_is_refused() -> None:
    assert LIGHT.check(Light.RED, Light.GREEN) is True
    assert LIGHT.check(Light.GREEN, Light.GREEN) is False
    with pytest.raises(InvalidTransition, match="light cannot go from OFF to RED"):
        LIGHT.check(Light.OFF, Light.RED)


def test_causes_finals_and_sources() -> None:
    assert LIGHT.cause(Light.RED, Light.GREEN) == "go"
    assert [s for s in Light if LIGHT.is_final(s)] == [Light.OFF]
    assert LIGHT.sources_of(Light.GREEN) == (Light.RED,)
    assert list(LIGHT.initial_statuses()) == [Light.RED]


def test_a_table_of_another_enum_is_refused() -> None:
    class Other(StrEnum):
        X = "X"

    with pytest.raises(TypeError):
        Machine("bad", Light, {(None, Other.X): "wrong enum"})  # type: ignore[dict-item]
