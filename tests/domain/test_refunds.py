"""The refund state machine, checked for every (from, to) pair."""

from __future__ import annotations

import itertools

import pytest

from gateway.domain.errors import InvalidTransition
from gateway.domain.refunds import REFUND_MACHINE, RefundStatus

R = RefundStatus

ALLOWED = {
    (None, R.PENDING),
    (R.PENDING, R.PROCESSING),
    (R.PENDING, R.SUCCEEDED),
    (R.PENDING, R.FAILED),
    (R.PROCESSING, R.SUCCEEDED),
    (R.PROCESSING, R.FAILED),
    (R.PROCESSING, R.PENDING),
}


def test_the_table_is_the_design() -> None:
    assert set(REFUND_MACHINE.transitions) == ALLOWED


@pytest.mark.parametrize(("current", "target"), list(itertools.product([None, *RefundStatus], RefundStatus)))
def test_every_pair(current: RefundStatus | None, target: RefundStatus) -> None:
    if (current, target) in ALLOWED:
        assert REFUND_MACHINE.check(current, target) is True
    elif current is target:
        assert REFUND_MACHINE.check(current, target) is False  # a repeat is a harmless no-op
    else:
        with pytest.raises(InvalidTransition):
            REFUND_MACHINE.check(current, target)


def test_final_states_and_creation() -> None:
    assert {s for s in RefundStatus if s.is_final} == {R.SUCCEEDED, R.FAILED}
    assert list(REFUND_MACHINE.initial_statuses()) == [R.PENDING]
    assert REFUND_MACHINE.creation_path(R.PENDING) == [(None, R.PENDING)]
    with pytest.raises(InvalidTransition):
        REFUND_MACHINE.creation_path(R.PROCESSING)
