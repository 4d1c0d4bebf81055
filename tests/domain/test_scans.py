"""The scan-session state machine, checked for every (from, to) pair."""

from __future__ import annotations

import itertools

import pytest

from gateway.domain.errors import InvalidTransition
from gateway.domain.scans import SCAN_SESSION_MACHINE, ScanSessionStatus

S = ScanSessionStatus

ALLOWED = {
    (None, S.OPEN),
    (S.OPEN, S.CHARGING),
    (S.OPEN, S.CANCELLED),
    (S.OPEN, S.EXPIRED),
    (S.CHARGING, S.CHARGED),
    (S.CHARGING, S.OPEN),
}


def test_the_table_is_the_design() -> None:
    assert set(SCAN_SESSION_MACHINE.transitions) == ALLOWED


@pytest.mark.parametrize(("current", "target"), list(itertools.product([None, *ScanSessionStatus], ScanSessionStatus)))
def test_every_pair(current: ScanSessionStatus | None, target: ScanSessionStatus) -> None:
    if (current, target) in ALLOWED:
        assert SCAN_SESSION_MACHINE.check(current, target) is True
    elif current is target:
        assert SCAN_SESSION_MACHINE.check(current, target) is False  # a repeat is a harmless no-op
    else:
        with pytest.raises(InvalidTransition):
            SCAN_SESSION_MACHINE.check(current, target)


def test_a_session_starts_open() -> None:
    assert list(SCAN_SESSION_MACHINE.initial_statuses()) == [S.OPEN]
    with pytest.raises(InvalidTransition):
        SCAN_SESSION_MACHINE.creation_path(S.CHARGING)


def test_final_states() -> None:
    assert {s for s in ScanSessionStatus if s.is_final} == {S.CHARGED, S.CANCELLED, S.EXPIRED}
    assert {s for s in ScanSessionStatus if SCAN_SESSION_MACHINE.is_final(s)} == {S.CHARGED, S.CANCELLED, S.EXPIRED}
