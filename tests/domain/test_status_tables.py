"""The five status machines, each checked against its designed table for every (from, to) pair."""

from __future__ import annotations

import itertools
from enum import StrEnum
from typing import Any

import pytest

from gateway.domain.errors import InvalidTransition
from gateway.domain.machine import Machine
from gateway.domain.orders import ORDER_MACHINE, OrderStatus
from gateway.domain.qr import QR_ATTEMPT_MACHINE, QrAttemptStatus
from gateway.domain.refunds import REFUND_MACHINE, RefundStatus
from gateway.domain.scans import SCAN_SESSION_MACHINE, ScanSessionStatus
from gateway.domain.webhooks import WEBHOOK_DELIVERY_MACHINE, DeliveryStatus

Ord, Q, R, S, D = OrderStatus, QrAttemptStatus, RefundStatus, ScanSessionStatus, DeliveryStatus

#: machine -> (the allowed pairs as designed (DESIGN.md section 3 for orders), the final states)
DESIGN: dict[Machine[Any], tuple[set[tuple[Any, Any]], set[Any]]] = {
    ORDER_MACHINE: (
        {
            (None, Ord.CREATED),
            (Ord.CREATED, Ord.AWAITING_PAYMENT),
            (Ord.CREATED, Ord.PAYING),
            (Ord.CREATED, Ord.FAILED),
            (Ord.AWAITING_PAYMENT, Ord.PAID),
            (Ord.AWAITING_PAYMENT, Ord.CLOSED),
            (Ord.PAYING, Ord.PAYING),
            (Ord.PAYING, Ord.PAID),
            (Ord.PAYING, Ord.REVERSED),
            (Ord.PAYING, Ord.FAILED),
            (Ord.PAID, Ord.PARTIALLY_REFUNDED),
            (Ord.PAID, Ord.REFUNDED),
            (Ord.PAID, Ord.VOIDED),
            (Ord.PARTIALLY_REFUNDED, Ord.PARTIALLY_REFUNDED),
            (Ord.PARTIALLY_REFUNDED, Ord.REFUNDED),
        },
        {Ord.REFUNDED, Ord.VOIDED, Ord.REVERSED, Ord.FAILED, Ord.CLOSED},
    ),
    QR_ATTEMPT_MACHINE: (
        {(None, Q.OPEN), (Q.OPEN, Q.CLOSED), (Q.OPEN, Q.PAID), (Q.CLOSED, Q.PAID), (Q.PAID, Q.REFUNDED)},
        {Q.REFUNDED},
    ),
    SCAN_SESSION_MACHINE: (
        {
            (None, S.OPEN),
            (S.OPEN, S.CHARGING),
            (S.OPEN, S.CANCELLED),
            (S.OPEN, S.EXPIRED),
            (S.CHARGING, S.CHARGED),
            (S.CHARGING, S.OPEN),
        },
        {S.CHARGED, S.CANCELLED, S.EXPIRED},
    ),
    REFUND_MACHINE: (
        {
            (None, R.PENDING),
            (R.PENDING, R.PROCESSING),
            (R.PENDING, R.SUCCEEDED),
            (R.PENDING, R.FAILED),
            (R.PROCESSING, R.SUCCEEDED),
            (R.PROCESSING, R.FAILED),
            (R.PROCESSING, R.PENDING),
        },
        {R.SUCCEEDED, R.FAILED},
    ),
    WEBHOOK_DELIVERY_MACHINE: (
        {(None, D.PENDING), (D.PENDING, D.PENDING), (D.PENDING, D.DELIVERED), (D.PENDING, D.FAILED)},
        {D.DELIVERED, D.FAILED},
    ),
}

PAIRS = [
    pytest.param(machine, current, target, id=f"{machine.name}:{current}->{target}")
    for machine in DESIGN
    for current, target in itertools.product([None, *machine.statuses], machine.statuses)
]


@pytest.mark.parametrize("machine", list(DESIGN), ids=lambda machine: machine.name)
def test_the_table_is_the_design(machine: Machine[Any]) -> None:
    allowed, final = DESIGN[machine]
    assert set(machine.transitions) == allowed
    assert {status for status in machine.statuses if machine.is_final(status)} == final


@pytest.mark.parametrize(("machine", "current", "target"), PAIRS)
def test_every_pair(machine: Machine[Any], current: StrEnum | None, target: StrEnum) -> None:
    allowed, _final = DESIGN[machine]
    if (current, target) in allowed:
        assert machine.check(current, target) is True
    elif current is target:
        assert machine.check(current, target) is False  # a repeat is a harmless no-op
    else:
        with pytest.raises(InvalidTransition):
            machine.check(current, target)


@pytest.mark.parametrize("machine", list(DESIGN), ids=lambda machine: machine.name)
def test_a_record_starts_only_where_the_table_says(machine: Machine[Any]) -> None:
    allowed, _final = DESIGN[machine]
    starts = {target for source, target in allowed if source is None}
    assert set(machine.initial_statuses()) == starts
    for status in machine.statuses:
        if status in starts:
            assert machine.creation_path(status) == [(None, status)]
        else:
            with pytest.raises(InvalidTransition):
                machine.creation_path(status)


def test_the_status_enums_say_final_as_their_tables_do() -> None:
    assert {s for s in OrderStatus if not s.is_final} == {Ord.CREATED, Ord.AWAITING_PAYMENT, Ord.PAYING}
    assert {s for s in OrderStatus if s.is_absorbing} == DESIGN[ORDER_MACHINE][1]
    assert {s for s in ScanSessionStatus if s.is_final} == DESIGN[SCAN_SESSION_MACHINE][1]
    assert {s for s in RefundStatus if s.is_final} == DESIGN[REFUND_MACHINE][1]
    assert set(QR_ATTEMPT_MACHINE.sources_of(Q.PAID)) == {Q.OPEN, Q.CLOSED}
