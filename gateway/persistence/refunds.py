"""Refunds: each one written in the transaction that decides it, then moved along its machine by the job."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update

from gateway.domain.refunds import RefundStatus
from gateway.persistence.database import Tx
from gateway.persistence.tables import Refund, table_of

_refunds = table_of(Refund)
_COLUMNS = tuple(column.key for column in _refunds.c)

_INSERT = insert(_refunds)
_LOCK = select(_refunds).where(_refunds.c.id == bindparam("refund_id")).with_for_update()
_UNFINISHED = (
    select(_refunds)
    .where(
        _refunds.c.order_id == bindparam("order_id"),
        _refunds.c.status.in_((RefundStatus.PENDING, RefundStatus.PROCESSING)),
    )
    .order_by(_refunds.c.created_at)
)


def _refund_from_row(row: Row[Any]) -> Refund:
    """A detached `Refund` holding the row's values."""
    return Refund(**row._mapping)


def add_refund(tx: Tx, refund: Refund) -> None:
    """Write a new refund (the caller checked its creation path)."""
    tx.connection.execute(_INSERT, {key: value for key, value in vars(refund).items() if key in _COLUMNS})


def unfinished(tx: Tx, order_id: str) -> list[Refund]:
    """The order's refunds not yet SUCCEEDED or FAILED, oldest first."""
    return [_refund_from_row(row) for row in tx.connection.execute(_UNFINISHED, {"order_id": order_id})]


def lock_refund(tx: Tx, refund_id: str) -> Refund | None:
    """The refund, its row locked until the transaction ends (PostgreSQL; SQLite runs one writer at a time)."""
    row = tx.connection.execute(_LOCK, {"refund_id": refund_id}).first()
    return None if row is None else _refund_from_row(row)


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
    return None if row is None else _refund_from_row(row)
