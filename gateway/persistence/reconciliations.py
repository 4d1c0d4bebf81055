"""Reconciliation: our payments and refunds a channel's bill of a day should list, and the reconciliations made."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import bindparam, or_, select

from gateway.domain.channels import Channel
from gateway.domain.orders import OrderStatus
from gateway.domain.reconciliation import BillStatus, OurPayment, OurRefund
from gateway.domain.refunds import RefundReason, RefundStatus
from gateway.persistence.database import Tx
from gateway.persistence.settlements import PAYMENTS_TAKEN
from gateway.persistence.tables import Order, QrAttempt, Reconciliation, Refund, table_of

_orders = table_of(Order)
_attempts = table_of(QrAttempt)
_refunds = table_of(Refund)
_reconciliations = table_of(Reconciliation)
_KEPT = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)


def our_payments(
    tx: Tx, channel: Channel, start: datetime, end: datetime, out_trade_nos: Collection[str], trade_nos: Collection[str]
) -> list[OurPayment]:
    """Our payments on the channel whose money arrived in [start, end), and any other the bill names."""
    named_by_attempt = select(_attempts.c.order_id).where(_attempts.c.channel_out_trade_no.in_(list(out_trade_nos)))
    orders = tx.connection.execute(
        select(_orders).where(
            _orders.c.channel == channel,
            or_(
                (_orders.c.paid_at >= start) & (_orders.c.paid_at < end) & _orders.c.status.in_(PAYMENTS_TAKEN),
                _orders.c.channel_trade_no.in_(list(trade_nos)),
                _orders.c.id.in_([_order_id(number) for number in out_trade_nos]),
                _orders.c.id.in_(named_by_attempt),
            ),
        )
    ).all()
    ids = [row.id for row in orders]
    numbers: dict[str, set[str]] = {order_id: {order_id.replace("_", "")} for order_id in ids}
    for row in tx.connection.execute(
        select(_attempts.c.order_id, _attempts.c.channel_out_trade_no).where(_attempts.c.order_id.in_(ids))
    ):
        numbers[row.order_id].add(row.channel_out_trade_no)
    # The refunds that change what the bill shows: a void the channel reversed, money that came after the close.
    reversed_voids: set[str] = set()
    given_back: set[str] = set()
    for row in tx.connection.execute(
        select(_refunds.c.order_id, _refunds.c.reason).where(
            _refunds.c.order_id.in_(ids),
            _refunds.c.status == RefundStatus.SUCCEEDED,
            ((_refunds.c.reason == RefundReason.VOID) & _refunds.c.via_reverse.is_(True))
            | (_refunds.c.reason == RefundReason.PAID_AFTER_CLOSE),
        )
    ):
        (reversed_voids if row.reason == RefundReason.VOID else given_back).add(row.order_id)
    return [
        OurPayment(
            order_id=row.id,
            merchant_id=row.merchant_id,
            channel_out_trade_nos=frozenset(numbers[row.id]),
            channel_trade_no=row.channel_trade_no,
            amount_fen=row.amount_fen,
            fee_fen=None if row.id in reversed_voids else row.fee_fen,
            status=str(row.status),
            expected=_expected(row.status, row.id in reversed_voids, row.id in given_back),
        )
        for row in orders
    ]


def _expected(status: OrderStatus, reversed_void: bool, paid_after_close: bool) -> BillStatus | None:
    """What the bill should say of an order: money kept (for a closed order: money that came anyway, which the
    gateway gave back), revoked, or nothing at all (never charged)."""
    if status in _KEPT or (status is OrderStatus.VOIDED and not reversed_void) or paid_after_close:
        return BillStatus.SUCCESS
    if status is OrderStatus.VOIDED:
        return BillStatus.REVOKED
    return None


def _order_id(out_trade_no: str) -> str:
    """Our order id from the out_trade_no we sent (the id without its underscore: `ord` + the rest)."""
    return f"{out_trade_no[:3]}_{out_trade_no[3:]}"


def our_refunds(
    tx: Tx, channel: Channel, start: datetime, end: datetime, out_refund_nos: Collection[str]
) -> list[OurRefund]:
    """Our refunds on the channel that succeeded in [start, end) as refunds (not reversals), and any the bill names."""
    rows = tx.connection.execute(
        select(_refunds).where(
            _refunds.c.channel == channel,
            _refunds.c.via_reverse.is_(False),
            or_(
                (_refunds.c.status == RefundStatus.SUCCEEDED)
                & (_refunds.c.finished_at >= start)
                & (_refunds.c.finished_at < end),
                _refunds.c.out_refund_no.in_(list(out_refund_nos)),
            ),
        )
    ).all()
    return [
        OurRefund(row.id, row.order_id, row.merchant_id, row.out_refund_no, row.amount_fen, row.fee_fen) for row in rows
    ]


def add_reconciliation(tx: Tx, reconciliation: Reconciliation) -> None:
    row = {column.name: getattr(reconciliation, column.name) for column in _reconciliations.columns}
    tx.connection.execute(_reconciliations.insert(), row)


def get_reconciliation(tx: Tx, reconciliation_id: str) -> Reconciliation | None:
    row = tx.connection.execute(
        select(_reconciliations).where(_reconciliations.c.id == bindparam("id")), {"id": reconciliation_id}
    ).first()
    return None if row is None else Reconciliation(**row._mapping)


def refund_of_trade(tx: Tx, order_id: str, channel_trade_no: str) -> str | None:
    """The automatic refund already started for money the order's trade kept, if any (a repair runs once)."""
    return tx.connection.scalar(
        select(_refunds.c.id).where(
            _refunds.c.order_id == order_id,
            _refunds.c.reason.in_((RefundReason.PAID_AFTER_CLOSE, RefundReason.DUPLICATE_PAYMENT)),
            _refunds.c.channel_trade_no == channel_trade_no,
        )
    )
