"""Scan sessions: the terminal's one open session, compare-and-set status changes, and the order a charge made.

Sessions leave as `ScanSession` objects detached from any session, built from plain rows. The terminal's
open-session slot (`active_terminal_id`, unique) is held while a session is OPEN or CHARGING and freed by the
same UPDATE that makes it final, so "one open session per terminal" is the database's guarantee.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.domain.scans import ScanSessionStatus
from gateway.persistence.database import Tx
from gateway.persistence.tables import Order, ScanSession, table_of

_scans = table_of(ScanSession)
_orders = table_of(Order)
_COLUMNS = tuple(column.key for column in _scans.c)

#: A second open session of a terminal inserts nothing (its slot is taken) instead of failing the transaction.
_INSERT_IF_SLOT_FREE = {
    name: insert(_scans).on_conflict_do_nothing(index_elements=[_scans.c.active_terminal_id])
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_LOAD = select(_scans).where(_scans.c.id == bindparam("session_id"))
_LOAD_OF_TERMINAL = select(_scans).where(
    _scans.c.id == bindparam("session_id"), _scans.c.terminal_id == bindparam("terminal_id")
)
_ACTIVE = select(_scans).where(_scans.c.active_terminal_id == bindparam("terminal_id"))
_STATUS = select(_scans.c.status).where(_scans.c.id == bindparam("session_id"))
_STALE_CHARGING = select(_scans.c.id).where(
    _scans.c.terminal_id == bindparam("terminal_id"),
    _scans.c.status == ScanSessionStatus.CHARGING,
    _scans.c.charging_since < bindparam("before"),
)
_ORDER_ID_FOR = select(_orders.c.id).where(
    _orders.c.merchant_id == bindparam("merchant_id"), _orders.c.out_trade_no == bindparam("out_trade_no")
)


def session_from_row(row: Row[Any]) -> ScanSession:
    """A detached `ScanSession` holding the row's values (what services and schemas read)."""
    return ScanSession(**row._mapping)


def insert_if_slot_free(tx: Tx, scan: ScanSession) -> bool:
    """Write a new session; False (nothing written) if the terminal already has one open or charging."""
    values = {key: value for key, value in vars(scan).items() if key in _COLUMNS}
    return tx.connection.execute(_INSERT_IF_SLOT_FREE[tx.dialect], values).rowcount == 1


def load(tx: Tx, session_id: str) -> ScanSession | None:
    row = tx.connection.execute(_LOAD, {"session_id": session_id}).first()
    return None if row is None else session_from_row(row)


def load_of_terminal(tx: Tx, session_id: str, terminal_id: str) -> ScanSession | None:
    """The session if it belongs to this terminal (another terminal's does not exist for it)."""
    row = tx.connection.execute(_LOAD_OF_TERMINAL, {"session_id": session_id, "terminal_id": terminal_id}).first()
    return None if row is None else session_from_row(row)


def active_of_terminal(tx: Tx, terminal_id: str) -> ScanSession | None:
    """The terminal's session that is OPEN or CHARGING, if any (at most one: the slot is unique)."""
    row = tx.connection.execute(_ACTIVE, {"terminal_id": terminal_id}).first()
    return None if row is None else session_from_row(row)


def status_of(tx: Tx, session_id: str) -> ScanSessionStatus | None:
    status: ScanSessionStatus | None = tx.connection.scalar(_STATUS, {"session_id": session_id})
    return status


def compare_and_set(
    tx: Tx,
    session_id: str,
    expected: ScanSessionStatus,
    target: ScanSessionStatus,
    now: datetime,
    *,
    terminal_id: str | None = None,
    unexpired_at: datetime | None = None,
    **fields: Any,
) -> bool:
    """Move the session from `expected` to `target` with `fields`, only if it is still in `expected` (and is the
    terminal's, and has not expired at `unexpired_at`, when given); True if it changed. A final `target` frees
    the terminal's slot and stamps `closed_at` in the same UPDATE.
    """
    conditions = [_scans.c.id == session_id, _scans.c.status == expected]
    if terminal_id is not None:
        conditions.append(_scans.c.terminal_id == terminal_id)
    if unexpired_at is not None:
        conditions.append(_scans.c.expires_at > unexpired_at)
    values: dict[str, Any] = {"status": target, **fields}
    if target.is_final:
        values.update(active_terminal_id=None, closed_at=now)
    changed = tx.connection.execute(update(_scans).where(*conditions).values(**values))
    return changed.rowcount == 1


def expire_overdue(tx: Tx, terminal_id: str, now: datetime) -> int:
    """OPEN -> EXPIRED for the terminal's sessions past their `expires_at`; frees the terminal's slot."""
    changed = tx.connection.execute(
        update(_scans)
        .where(
            _scans.c.terminal_id == terminal_id,
            _scans.c.status == ScanSessionStatus.OPEN,
            _scans.c.expires_at <= now,
        )
        .values(status=ScanSessionStatus.EXPIRED, active_terminal_id=None, closed_at=now)
    )
    return int(changed.rowcount or 0)


def stale_charging_ids(tx: Tx, terminal_id: str, before: datetime) -> list[str]:
    """The terminal's sessions CHARGING since before `before`: left behind by a request that died mid-charge."""
    return list(tx.connection.scalars(_STALE_CHARGING, {"terminal_id": terminal_id, "before": before}))


def order_id_for(tx: Tx, merchant_id: str, out_trade_no: str) -> str | None:
    """The merchant's order with this number, if one was written (a session's charge, or any payment)."""
    order_id: str | None = tx.connection.scalar(
        _ORDER_ID_FOR, {"merchant_id": merchant_id, "out_trade_no": out_trade_no}
    )
    return order_id
