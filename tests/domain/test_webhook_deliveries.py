"""The webhook delivery state machine, checked for every (from, to) pair."""

from __future__ import annotations

import itertools

import pytest

from gateway.domain.errors import InvalidTransition
from gateway.domain.webhooks import WEBHOOK_DELIVERY_MACHINE, DeliveryStatus

D = DeliveryStatus

ALLOWED = {
    (None, D.PENDING),
    (D.PENDING, D.PENDING),
    (D.PENDING, D.DELIVERED),
    (D.PENDING, D.FAILED),
}


def test_the_table_is_the_design() -> None:
    assert set(WEBHOOK_DELIVERY_MACHINE.transitions) == ALLOWED


@pytest.mark.parametrize(("current", "target"), list(itertools.product([None, *DeliveryStatus], DeliveryStatus)))
def test_every_pair(current: DeliveryStatus | None, target: DeliveryStatus) -> None:
    if (current, target) in ALLOWED:
        assert WEBHOOK_DELIVERY_MACHINE.check(current, target) is True
    elif current is target:
        assert WEBHOOK_DELIVERY_MACHINE.check(current, target) is False  # a repeat is a harmless no-op
    else:
        with pytest.raises(InvalidTransition):
            WEBHOOK_DELIVERY_MACHINE.check(current, target)


def test_final_states_and_creation() -> None:
    assert {s for s in DeliveryStatus if WEBHOOK_DELIVERY_MACHINE.is_final(s)} == {D.DELIVERED, D.FAILED}
    assert WEBHOOK_DELIVERY_MACHINE.creation_path(D.PENDING) == [(None, D.PENDING)]
    with pytest.raises(InvalidTransition):
        WEBHOOK_DELIVERY_MACHINE.creation_path(D.DELIVERED)
