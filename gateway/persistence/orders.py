"""Orders and their audit trail: insert with the creation path, compare-and-set transitions, used payment codes.

The hot paths (every payment) use Core statements built once here, on plain rows: no unit-of-work pass and no
identity map. Orders leave as `Order` objects detached from any session, so callers read them like any record.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from gateway.domain.orders import OrderStatus
from gateway.persistence.database import Tx
from gateway.persistence.prebuilt import Prebuilt
from gateway.persistence.tables import Order, OrderTransition, Terminal, UsedPaymentCode, table_of

_orders = table_of(Order)
_transitions = table_of(OrderTransition)
_used = table_of(UsedPaymentCode)
_ORDER_COLUMNS = tuple(column.key for column in _orders.c)

_INSERT_ORDER = Prebuilt(insert(_orders))
_INSERT_TRANSITION = Prebuilt(insert(_transitions))
_INSERT_USED_CODE = Prebuilt(insert(_used))
_LOAD = Prebuilt(select(_orders).where(_orders.c.id == bindparam("order_id")))
#: One round trip answers both duplicate checks of a new payment.
_TAKEN = Prebuilt(
    select(
        select(_orders.c.id)
        .where(_orders.c.merchant_id == bindparam("merchant_id"), _orders.c.out_trade_no == bindparam("out_trade_no"))
        .scalar_subquery()
        .label("order_id"),
        select(_used.c.used_at).where(_used.c.code_hash == bindparam("code_hash")).scalar_subquery().label("used_at"),
    )
)
_FORGET_CODE = delete(_used).where(_used.c.code_hash == bindparam("code_hash"))
_LOCK_TERMINAL = select(Terminal.id).where(Terminal.id == bindparam("terminal_id")).with_for_update()
_TAKEN_TODAY = select(func.coalesce(func.sum(_orders.c.amount_fen), 0)).where(
    _orders.c.terminal_id == bindparam("terminal_id"),
    _orders.c.created_at >= bindparam("day_start"),
    _orders.c.status.in_(bindparam("statuses", expanding=True)),
)


def order_from_row(row: Any) -> Order:
    """A detached `Order` holding the row's values (what services and schemas read)."""
    return Order(**row._asdict())


def insert_order(tx: Tx, order: Order, path: list[dict[str, Any]]) -> None:
    """Write a new order and its audit rows (`path`: from_status, to_status, cause, actor, at, detail each)."""
    values = {key: value for key, value in vars(order).items() if key in _ORDER_COLUMNS}
    _INSERT_ORDER.rowcount(tx, values)
    _INSERT_TRANSITION.many(tx, [{"order_id": order.id, **step} for step in path])


def load_order(tx: Tx, order_id: str) -> Order | None:
    row = _LOAD.first(tx, {"order_id": order_id})
    return None if row is None else order_from_row(row)


def compare_and_set(
    tx: Tx, order_id: str, expected: OrderStatus, target: OrderStatus, now: datetime, fields: dict[str, Any]
) -> Order | None:
    """Move the order from `expected` to `target` with `fields`; None when it is not in `expected` (any more)."""
    params = {**fields, "status": target, "updated_at": now, "b_order_id": order_id, "b_expected": expected}
    row = _compare_and_set(frozenset(fields)).first(tx, params)
    return None if row is None else order_from_row(row)


@lru_cache(maxsize=64)
def _compare_and_set(fields: frozenset[str]) -> Prebuilt:
    """One prebuilt statement per set of changed columns (a handful exist), instead of one built per change."""
    return Prebuilt(
        update(_orders)
        .where(_orders.c.id == bindparam("b_order_id"), _orders.c.status == bindparam("b_expected"))
        .values({name: bindparam(name) for name in ("status", "updated_at", *sorted(fields))})
        .returning(*_orders.c)
    )


def add_transition(
    tx: Tx,
    order_id: str,
    from_status: OrderStatus | None,
    to_status: OrderStatus,
    cause: str,
    actor: str,
    at: datetime,
    detail: dict[str, Any],
) -> None:
    _INSERT_TRANSITION.rowcount(
        tx,
        {
            "order_id": order_id,
            "from_status": from_status,
            "to_status": to_status,
            "cause": cause,
            "actor": actor,
            "at": at,
            "detail": detail,
        },
    )


def taken_by(tx: Tx, merchant_id: str, out_trade_no: str, code_hash: str) -> tuple[str | None, datetime | None]:
    """The order already holding this merchant order number, and when this payment code was last charged."""
    row = _TAKEN.one(tx, {"merchant_id": merchant_id, "out_trade_no": out_trade_no, "code_hash": code_hash})
    return row.order_id, row.used_at


def forget_used_code(tx: Tx, code_hash: str) -> None:
    tx.connection.execute(_FORGET_CODE, {"code_hash": code_hash})


def record_used_code(tx: Tx, code_hash: str, order_id: str, used_at: datetime) -> None:
    _INSERT_USED_CODE.rowcount(tx, {"code_hash": code_hash, "order_id": order_id, "used_at": used_at})


def lock_terminal(tx: Tx, terminal_id: str) -> None:
    """Lock the terminal's row until the transaction ends (PostgreSQL; SQLite runs one transaction at a time)."""
    tx.connection.execute(_LOCK_TERMINAL, {"terminal_id": terminal_id})


def taken_today_fen(tx: Tx, terminal_id: str, day_start: datetime, statuses: tuple[OrderStatus, ...]) -> int:
    """What the terminal took since `day_start` in `statuses`; its row is locked first so concurrent payments of
    one terminal are counted one after the other (on PostgreSQL; SQLite runs one transaction at a time anyway)."""
    lock_terminal(tx, terminal_id)
    taken = tx.connection.scalar(
        _TAKEN_TODAY, {"terminal_id": terminal_id, "day_start": day_start, "statuses": list(statuses)}
    )
    return int(taken or 0)
