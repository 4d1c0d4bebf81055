"""The QR attempt state machine, checked for every (from, to) pair."""

from __future__ import annotations

import itertools

import pytest

from gateway.domain.errors import InvalidTransition
from gateway.domain.qr import QR_ATTEMPT_MACHINE, QrAttemptStatus

S = QrAttemptStatus

ALLOWED = {
    (None, S.OPEN),
    (S.OPEN, S.CLOSED),
    (S.OPEN, S.PAID),
    (S.CLOSED, S.PAID),
    (S.PAID, S.REFUNDED),
}


def test_the_table_is_the_design() -> None:
    assert set(QR_ATTEMPT_MACHINE.transitions) == ALLOWED


@pytest.mark.parametrize(("current", "target"), list(itertools.product([None, *QrAttemptStatus], QrAttemptStatus)))
def test_every_pair(current: QrAttemptStatus | None, target: QrAttemptStatus) -> None:
    if (current, target) in ALLOWED:
        assert QR_ATTEMPT_MACHINE.check(current, target) is True
    elif current is target:
        assert QR_ATTEMPT_MACHINE.check(current, target) is False  # a repeat is a harmless no-op
    else:
        with pytest.raises(InvalidTransition):
            QR_ATTEMPT_MACHINE.check(current, target)


def test_only_a_refunded_attempt_is_final() -> None:
    assert {s for s in QrAttemptStatus if QR_ATTEMPT_MACHINE.is_final(s)} == {S.REFUNDED}
    assert list(QR_ATTEMPT_MACHINE.initial_statuses()) == [S.OPEN]
    assert set(QR_ATTEMPT_MACHINE.sources_of(S.PAID)) == {S.OPEN, S.CLOSED}
