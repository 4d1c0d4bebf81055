"""Refunds: each one written in the transaction that decides it, then moved along its machine by the job; the
order's reserved amount that keeps accepted refunds within what was paid, even under concurrent requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, insert, or_, select, update

from gateway.domain.channels import Channel
from gateway.domain.refunds import REFUNDABLE, RefundReason, RefundStatus
from gateway.persistence.database import Tx
from gateway.persistence.orders import order_from_row
from gateway.persistence.tables import Merchant, Order, Refund, table_of

_refunds = table_of(Refund)
_orders = table_of(Order)
_COLUMNS = tuple(column.key for column in _refunds.c)
_UNFINISHED_STATUSES = (RefundStatus.PENDING, RefundStatus.PROCESSING)

_INSERT = insert(_refunds)
_LOCK = select(_refunds).where(_refunds.c.id == bindparam("refund_id")).with_for_update()
_GET = select(_refunds).where(_refunds.c.id == bindparam("refund_id"))
_BY_MERCHANT_NUMBER = select(_refunds).where(
    _refunds.c.merchant_id == bindparam("merchant_id"), _refunds.c.merchant_refund_no == bindparam("number")
)
_BY_CHANNEL_NUMBER = select(_refunds).where(_refunds.c.out_refund_no == bindparam("out_refund_no"))
_OF_ORDER = select(_refunds).where(_refunds.c.order_id == bindparam("order_id")).order_by(_refunds.c.created_at)
_UNFINISHED = _OF_ORDER.where(_refunds.c.status.in_(_UNFINISHED_STATUSES))
_LIVE_VOID = _OF_ORDER.where(_refunds.c.reason == RefundReason.VOID, _refunds.c.status != RefundStatus.FAILED)
_LOCK_ORDER = select(_orders).where(_orders.c.id == bindparam("order_id")).with_for_update()
#: The reservation: one statement, so concurrent requests on one order are counted one after the other (the row
#: lock on PostgreSQL, which re-checks the condition on the row as the previous holder left it; SQLite's writer).
_RESERVE = (
    update(_orders)
    .where(
        _orders.c.id == bindparam("order_id"),
        _orders.c.status.in_(REFUNDABLE),
        _orders.c.refund_reserved_fen + bindparam("asked_fen") <= _orders.c.amount_fen,
        _orders.c.refund_count < bindparam("cap"),
    )
    .values(
        refund_reserved_fen=_orders.c.refund_reserved_fen + bindparam("asked_fen"),
        refund_count=_orders.c.refund_count + 1,
    )
)
_RELEASE = (
    update(_orders)
    .where(_orders.c.id == bindparam("order_id"))
    .values(refund_reserved_fen=_orders.c.refund_reserved_fen - bindparam("asked_fen"))
    .returning(*_orders.c)
)
_REQUIRES_SUPERVISOR = select(Merchant.refund_requires_supervisor).where(Merchant.id == bindparam("merchant_id"))


@dataclass(frozen=True)
class RefundFilter:
    """What a merchant may filter the refund list by; None means any. PROCESSING includes refunds not yet sent."""

    status: RefundStatus | None = None
    channel: Channel | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def _refund_from_row(row: Row[Any]) -> Refund:
    """A detached `Refund` holding the row's values."""
    return Refund(**row._mapping)


def _one(row: Row[Any] | None) -> Refund | None:
    return None if row is None else _refund_from_row(row)


def add_refund(tx: Tx, refund: Refund) -> None:
    """Write a new refund (the caller checked its creation path)."""
    tx.connection.execute(_INSERT, {key: value for key, value in vars(refund).items() if key in _COLUMNS})


def get_refund(tx: Tx, refund_id: str) -> Refund | None:
    return _one(tx.connection.execute(_GET, {"refund_id": refund_id}).first())


def by_merchant_number(tx: Tx, merchant_id: str, merchant_refund_no: str) -> Refund | None:
    """The merchant's refund requested under this number (terminals and the merchant API share the numbers)."""
    return _one(
        tx.connection.execute(_BY_MERCHANT_NUMBER, {"merchant_id": merchant_id, "number": merchant_refund_no}).first()
    )


def by_channel_number(tx: Tx, out_refund_no: str) -> Refund | None:
    """The refund a channel names by the number it was sent under."""
    return _one(tx.connection.execute(_BY_CHANNEL_NUMBER, {"out_refund_no": out_refund_no}).first())


def of_order(tx: Tx, order_id: str) -> list[Refund]:
    """Every refund of the order, oldest first."""
    return [_refund_from_row(row) for row in tx.connection.execute(_OF_ORDER, {"order_id": order_id})]


def unfinished(tx: Tx, order_id: str) -> list[Refund]:
    """The order's refunds not yet SUCCEEDED or FAILED, oldest first."""
    return [_refund_from_row(row) for row in tx.connection.execute(_UNFINISHED, {"order_id": order_id})]


def live_void(tx: Tx, order_id: str) -> Refund | None:
    """The order's void under way or done (a failed one does not count: the payment can be voided again)."""
    return _one(tx.connection.execute(_LIVE_VOID, {"order_id": order_id}).first())


def lock_refund(tx: Tx, refund_id: str) -> Refund | None:
    """The refund, its row locked until the transaction ends (PostgreSQL; SQLite runs one writer at a time)."""
    return _one(tx.connection.execute(_LOCK, {"refund_id": refund_id}).first())


def compare_and_set(
    tx: Tx, refund_id: str, expected: RefundStatus, target: RefundStatus, **fields: Any
) -> Refund | None:
    """Move the refund from `expected` to `target` with `fields` (after REFUND_MACHINE.check); None when it is
    not in `expected` (any more)."""
    row = tx.connection.execute(
        update(_refunds)
        .where(_refunds.c.id == refund_id, _refunds.c.status == expected)
        .values(status=target, **fields)
        .returning(*_refunds.c)
    ).first()
    return _one(row)


def lock_order(tx: Tx, order_id: str) -> Order | None:
    """The order, its row locked until the transaction ends: refunds of one order settle one after the other."""
    row = tx.connection.execute(_LOCK_ORDER, {"order_id": order_id}).first()
    return None if row is None else order_from_row(row)


def reserve(tx: Tx, order_id: str, amount_fen: int, cap: int) -> bool:
    """Reserve `amount_fen` of the order for a refund: only while it is refundable, the reserved amount stays
    within what was paid and the order has fewer than `cap` refunds. False (nothing changed) otherwise."""
    result = tx.connection.execute(_RESERVE, {"order_id": order_id, "asked_fen": amount_fen, "cap": cap})
    return result.rowcount == 1


def release(tx: Tx, order_id: str, amount_fen: int) -> Order:
    """Give a failed refund's amount back to what the order can still refund."""
    row = tx.connection.execute(_RELEASE, {"order_id": order_id, "asked_fen": amount_fen}).one()
    return order_from_row(row)


def requires_supervisor(tx: Tx, merchant_id: str) -> bool:
    return bool(tx.connection.scalar(_REQUIRES_SUPERVISOR, {"merchant_id": merchant_id}))


def set_requires_supervisor(tx: Tx, merchant_id: str, required: bool) -> bool:
    """Set the merchant's rule; False when there is no such merchant."""
    result = tx.connection.execute(
        update(Merchant).where(Merchant.id == merchant_id).values(refund_requires_supervisor=required)
    )
    return result.rowcount == 1


def merchant_refunds(
    tx: Tx, merchant_id: str, filters: RefundFilter, limit: int, after: tuple[datetime, str] | None
) -> list[Refund]:
    """Up to `limit` of the merchant's refunds, newest first, continuing after (created_at, id) `after`."""
    query = select(_refunds).where(_refunds.c.merchant_id == merchant_id)
    if filters.status is not None:
        shown = _UNFINISHED_STATUSES if filters.status is RefundStatus.PROCESSING else (filters.status,)
        query = query.where(_refunds.c.status.in_(shown))
    if filters.channel is not None:
        query = query.where(_refunds.c.channel == filters.channel)
    if filters.created_from is not None:
        query = query.where(_refunds.c.created_at >= filters.created_from)
    if filters.created_to is not None:
        query = query.where(_refunds.c.created_at < filters.created_to)
    if after is not None:
        created_at, refund_id = after
        query = query.where(
            or_(
                _refunds.c.created_at < created_at,
                and_(_refunds.c.created_at == created_at, _refunds.c.id < refund_id),
            )
        )
    query = query.order_by(_refunds.c.created_at.desc(), _refunds.c.id.desc()).limit(limit)
    return [_refund_from_row(row) for row in tx.connection.execute(query)]
