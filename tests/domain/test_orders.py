"""The order state machine, checked for every (from, to) pair."""

from __future__ import annotations

import itertools

import pytest

from gateway.domain.errors import InvalidTransition
from gateway.domain.orders import ORDER_MACHINE, OrderStatus

S = OrderStatus

ALLOWED = {
    (None, S.CREATED),
    (S.CREATED, S.AWAITING_PAYMENT),
    (S.CREATED, S.PAYING),
    (S.CREATED, S.FAILED),
    (S.AWAITING_PAYMENT, S.PAID),
    (S.AWAITING_PAYMENT, S.CLOSED),
    (S.PAYING, S.PAYING),
    (S.PAYING, S.PAID),
    (S.PAYING, S.REVERSED),
    (S.PAYING, S.FAILED),
    (S.PAID, S.PARTIALLY_REFUNDED),
    (S.PAID, S.REFUNDED),
    (S.PAID, S.VOIDED),
    (S.PARTIALLY_REFUNDED, S.PARTIALLY_REFUNDED),
    (S.PARTIALLY_REFUNDED, S.REFUNDED),
}


def test_the_table_is_the_design() -> None:
    assert set(ORDER_MACHINE.transitions) == ALLOWED


@pytest.mark.parametrize(("current", "target"), list(itertools.product([None, *OrderStatus], OrderStatus)))
def test_every_pair(current: OrderStatus | None, target: OrderStatus) -> None:
    if (current, target) in ALLOWED:
        assert ORDER_MACHINE.check(current, target) is True
    elif current is target:
        assert ORDER_MACHINE.check(current, target) is False  # a repeat is a harmless no-op
    else:
        with pytest.raises(InvalidTransition):
            ORDER_MACHINE.check(current, target)


def test_final_and_absorbing_states() -> None:
    assert {s for s in OrderStatus if not s.is_final} == {S.CREATED, S.AWAITING_PAYMENT, S.PAYING}
    assert {s for s in OrderStatus if s.is_absorbing} == {S.REFUNDED, S.VOIDED, S.REVERSED, S.FAILED, S.CLOSED}
