"""Settlements: what of a terminal's batch is still in flight, what it took and gave back, and the settled batches."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from gateway.domain.orders import OrderStatus
from gateway.domain.refunds import RefundReason, RefundStatus
from gateway.domain.settlements import BatchPayment, BatchRefund
from gateway.persistence.database import Tx
from gateway.persistence.tables import Order, Refund, Settlement, table_of

_orders = table_of(Order)
_refunds = table_of(Refund)
_settlements = table_of(Settlement)

#: A payment of these is not finished: the customer or the channel has still to answer.
PAYMENTS_IN_FLIGHT = (OrderStatus.CREATED, OrderStatus.PAYING, OrderStatus.AWAITING_PAYMENT)
#: A payment of these took the customer's money (what happened after is counted by its refunds and voids).
PAYMENTS_TAKEN = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED, OrderStatus.VOIDED)
REFUNDS_IN_FLIGHT = (RefundStatus.PENDING, RefundStatus.PROCESSING)

_IN_BATCH = (_orders.c.terminal_id == bindparam("terminal_id"), _orders.c.batch_no == bindparam("batch_no"))
_REFUNDS_IN_BATCH = (_refunds.c.terminal_id == bindparam("terminal_id"), _refunds.c.batch_no == bindparam("batch_no"))
_PAYMENTS_IN_FLIGHT = (
    select(_orders.c.id, _orders.c.kind, _orders.c.status, _orders.c.voucher_no, _orders.c.amount_fen)
    .where(*_IN_BATCH, _orders.c.status.in_(PAYMENTS_IN_FLIGHT))
    .order_by(_orders.c.reference_no)
)
_REFUNDS_IN_FLIGHT = (
    select(_refunds.c.id, _refunds.c.reason, _refunds.c.status, _refunds.c.voucher_no, _refunds.c.amount_fen)
    .where(*_REFUNDS_IN_BATCH, _refunds.c.status.in_(REFUNDS_IN_FLIGHT))
    .order_by(_refunds.c.reference_no)
)
_PAYMENTS = select(_orders.c.channel, _orders.c.amount_fen, _orders.c.fee_fen).where(
    *_IN_BATCH, _orders.c.status.in_(PAYMENTS_TAKEN)
)
_REFUNDS = select(_refunds.c.channel, _refunds.c.reason, _refunds.c.amount_fen, _refunds.c.fee_fen).where(
    *_REFUNDS_IN_BATCH,
    _refunds.c.status == RefundStatus.SUCCEEDED,
    _refunds.c.reason.in_((RefundReason.REQUESTED, RefundReason.VOID)),
)
_LAST = (
    select(_settlements)
    .where(_settlements.c.terminal_id == bindparam("terminal_id"))
    .order_by(_settlements.c.settled_at.desc())
    .limit(1)
)


def in_flight(tx: Tx, terminal_id: str, batch_no: str) -> list[dict[str, object]]:
    """The batch's payments, refunds and voids that are not finished, payments first, each as the API shows it."""
    params = {"terminal_id": terminal_id, "batch_no": batch_no}
    found: list[dict[str, object]] = []
    for row in tx.connection.execute(_PAYMENTS_IN_FLIGHT, params):
        found.append({"kind": "payment", "id": row.id, "payment_kind": row.kind, "status": row.status,
                      "voucher_no": row.voucher_no, "amount_fen": row.amount_fen})  # fmt: skip
    for row in tx.connection.execute(_REFUNDS_IN_FLIGHT, params):
        kind = "void" if row.reason == RefundReason.VOID else "refund"
        found.append({"kind": kind, "id": row.id, "status": row.status, "voucher_no": row.voucher_no,
                      "amount_fen": row.amount_fen})  # fmt: skip
    return found


def batch_payments(tx: Tx, terminal_id: str, batch_no: str) -> list[BatchPayment]:
    rows = tx.connection.execute(_PAYMENTS, {"terminal_id": terminal_id, "batch_no": batch_no})
    return [BatchPayment(row.channel, row.amount_fen, row.fee_fen or 0) for row in rows]


def batch_refunds(tx: Tx, terminal_id: str, batch_no: str) -> list[BatchRefund]:
    rows = tx.connection.execute(_REFUNDS, {"terminal_id": terminal_id, "batch_no": batch_no})
    return [BatchRefund(row.channel, row.reason == RefundReason.VOID, row.amount_fen, row.fee_fen or 0) for row in rows]


def add_settlement(tx: Tx, settlement: Settlement) -> None:
    row = {column.name: getattr(settlement, column.name) for column in _settlements.columns}
    tx.connection.execute(_settlements.insert(), row)


def last_settlement(tx: Tx, terminal_id: str) -> Settlement | None:
    row = tx.connection.execute(_LAST, {"terminal_id": terminal_id}).first()
    return None if row is None else Settlement(**row._mapping)
