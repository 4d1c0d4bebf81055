"""QR attempts: the channel orders behind a C-scan-B order, created OPEN and moved along QR_ATTEMPT_MACHINE.

Statements are built once here (creating a code is a hot path); attempts leave as `QrAttempt` objects detached from
any session. Status changes are compare-and-set: the caller checked the pair against the machine first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Row, Update, bindparam, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.domain.channels import Channel
from gateway.domain.qr import QrAttemptStatus
from gateway.persistence.database import Tx
from gateway.persistence.tables import QrAttempt, table_of

_attempts = table_of(QrAttempt)

_INSERT = insert(_attempts)
#: An aggregate code opened again in the same app finds its attempt there already (one per order and channel).
_INSERT_IF_NEW = {
    name: dialect_insert(_attempts).on_conflict_do_nothing()
    for name, dialect_insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_OF_CHANNEL = select(_attempts).where(
    _attempts.c.order_id == bindparam("order_id"), _attempts.c.channel == bindparam("channel")
)
_BY_CHANNEL_ORDER = select(_attempts).where(
    _attempts.c.channel == bindparam("channel"), _attempts.c.channel_out_trade_no == bindparam("channel_out_trade_no")
)
_IN_STATUS = (
    select(_attempts)
    .where(_attempts.c.order_id == bindparam("order_id"), _attempts.c.status == bindparam("in_status"))
    .order_by(_attempts.c.id)
)
_COUNT_IN_STATUS = (
    select(func.count())
    .select_from(_attempts)
    .where(_attempts.c.order_id == bindparam("order_id"), _attempts.c.status == bindparam("in_status"))
)
_SET_CODE_URL = (
    update(_attempts)
    .where(_attempts.c.order_id == bindparam("of_order"), _attempts.c.channel == bindparam("at_channel"))
    .values(code_url=bindparam("new_code_url"), updated_at=bindparam("now"))
)


def _attempt_from_row(row: Row[Any]) -> QrAttempt:
    """A detached `QrAttempt` holding the row's values."""
    return QrAttempt(**row._mapping)


def _values(
    order_id: str, channel: Channel, channel_out_trade_no: str, status: QrAttemptStatus, now: datetime
) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "channel": channel,
        "channel_out_trade_no": channel_out_trade_no,
        "status": status,
        "created_at": now,
        "updated_at": now,
    }


def add(
    tx: Tx, order_id: str, channel: Channel, channel_out_trade_no: str, status: QrAttemptStatus, now: datetime
) -> None:
    """Write a new attempt (the caller checked its creation path)."""
    tx.connection.execute(_INSERT, _values(order_id, channel, channel_out_trade_no, status, now))


def add_if_new(
    tx: Tx, order_id: str, channel: Channel, channel_out_trade_no: str, status: QrAttemptStatus, now: datetime
) -> None:
    """Write a new attempt unless the order has one at this channel already."""
    tx.connection.execute(_INSERT_IF_NEW[tx.dialect], _values(order_id, channel, channel_out_trade_no, status, now))


def of_channel(tx: Tx, order_id: str, channel: Channel) -> QrAttempt | None:
    """The order's attempt at this channel."""
    row = tx.connection.execute(_OF_CHANNEL, {"order_id": order_id, "channel": channel}).first()
    return None if row is None else _attempt_from_row(row)


def by_channel_order(tx: Tx, channel: str, channel_out_trade_no: str) -> QrAttempt | None:
    """The attempt a channel knows under this out_trade_no (what its notifications name)."""
    params = {"channel": channel, "channel_out_trade_no": channel_out_trade_no}
    row = tx.connection.execute(_BY_CHANNEL_ORDER, params).first()
    return None if row is None else _attempt_from_row(row)


def in_status(tx: Tx, order_id: str, status: QrAttemptStatus) -> list[QrAttempt]:
    """The order's attempts in `status`, oldest first."""
    rows = tx.connection.execute(_IN_STATUS, {"order_id": order_id, "in_status": status})
    return [_attempt_from_row(row) for row in rows]


def count_in_status(tx: Tx, order_id: str, status: QrAttemptStatus) -> int:
    return int(tx.connection.scalar(_COUNT_IN_STATUS, {"order_id": order_id, "in_status": status}) or 0)


def set_code_url(tx: Tx, order_id: str, channel: Channel, code_url: str, now: datetime) -> None:
    """The code the channel issued for the order's attempt at this channel."""
    params = {"of_order": order_id, "at_channel": channel, "new_code_url": code_url, "now": now}
    tx.connection.execute(_SET_CODE_URL, params)


def compare_and_set(
    tx: Tx,
    attempt_id: int,
    expected: Sequence[QrAttemptStatus],
    target: QrAttemptStatus,
    now: datetime,
    **fields: Any,
) -> bool:
    """Move the attempt from any of `expected` to `target` with `fields`; False when it is in none of them."""
    return _compare_and_set(tx, "id", attempt_id, expected, target, now, fields) == 1


def compare_and_set_of_order(
    tx: Tx, order_id: str, expected: Sequence[QrAttemptStatus], target: QrAttemptStatus, now: datetime
) -> int:
    """Move every attempt of the order that is in any of `expected` to `target`; how many moved."""
    return _compare_and_set(tx, "order_id", order_id, expected, target, now, {})


def _compare_and_set(
    tx: Tx,
    by: str,
    key: object,
    expected: Sequence[QrAttemptStatus],
    target: QrAttemptStatus,
    now: datetime,
    fields: dict[str, Any],
) -> int:
    if not expected:
        return 0
    params = {"key": key, "expected": list(expected), "target": target, "now": now}
    params |= {f"new_{name}": value for name, value in fields.items()}
    result = tx.connection.execute(_compare_and_set_statement(by, tuple(sorted(fields))), params)
    return int(getattr(result, "rowcount", 0))


@cache
def _compare_and_set_statement(by: str, fields: tuple[str, ...]) -> Update:
    """Built once per shape (which rows, which extra columns), like the statements above."""
    return (
        update(_attempts)
        .where(
            _attempts.c[by] == bindparam("key"),
            _attempts.c.status.in_(bindparam("expected", expanding=True)),
        )
        .values(
            status=bindparam("target"),
            updated_at=bindparam("now"),
            **{name: bindparam(f"new_{name}") for name in fields},
        )
    )
