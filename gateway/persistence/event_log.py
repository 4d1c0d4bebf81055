"""The outbox as terminals read it: events by per-terminal sequence, acknowledged positions, latest sequences."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import any_, bindparam, case, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.sql import Executable
from sqlalchemy.types import String

from gateway.domain.events import TerminalEvent
from gateway.persistence.database import Tx
from gateway.persistence.tables import OutboxEvent, Terminal, TerminalEventAck, table_of

_outbox = table_of(OutboxEvent)
_acks = table_of(TerminalEventAck)
_terminals = table_of(Terminal)

#: Built once: replay runs for every connection that resumes and every poll.
_EVENTS_AFTER = (
    select(
        _outbox.c.id,
        _outbox.c.terminal_id,
        _outbox.c.seq,
        _outbox.c.type,
        _outbox.c.order_id,
        _outbox.c.payload,
        _outbox.c.created_at,
    )
    .where(_outbox.c.terminal_id == bindparam("terminal_id"), _outbox.c.seq > bindparam("after"))
    .order_by(_outbox.c.seq)
    .limit(bindparam("limit"))
)
_ACKED = select(_acks.c.acked_seq).where(_acks.c.terminal_id == bindparam("terminal_id"))
_LAST_SEQ = select(_terminals.c.event_seq).where(_terminals.c.id == bindparam("terminal_id"))


def _upsert_ack(insert: Callable[..., Any]) -> Executable:
    statement = insert(_acks).values(
        terminal_id=bindparam("ack_terminal"), acked_seq=bindparam("ack_seq"), updated_at=bindparam("ack_at")
    )
    moved: Executable = statement.on_conflict_do_update(
        index_elements=[_acks.c.terminal_id],
        set_={
            # Never back: a late or repeated ack leaves a newer position alone.
            "acked_seq": case(
                (_acks.c.acked_seq < statement.excluded.acked_seq, statement.excluded.acked_seq),
                else_=_acks.c.acked_seq,
            ),
            "updated_at": statement.excluded.updated_at,
        },
    )
    return moved


_UPSERT_ACK = {"postgresql": _upsert_ack(pg_insert), "sqlite": _upsert_ack(sqlite_insert)}

#: PostgreSQL gets the ids as one array parameter (thousands of subscribed terminals are one bind, not thousands).
_LATEST_SEQS_PG = select(_terminals.c.id, _terminals.c.event_seq).where(
    _terminals.c.id == any_(bindparam("ids", type_=ARRAY(String)))
)
_LATEST_SEQS_IN = select(_terminals.c.id, _terminals.c.event_seq).where(
    _terminals.c.id.in_(bindparam("ids", expanding=True))
)
#: SQLite's bound-parameter limit, with room to spare.
_IN_CHUNK = 500


def events_after(tx: Tx, terminal_id: str, after: int, limit: int) -> list[TerminalEvent]:
    """The terminal's events with a sequence past `after`, oldest first, at most `limit`."""
    rows = tx.connection.execute(_EVENTS_AFTER, {"terminal_id": terminal_id, "after": after, "limit": limit})
    return [TerminalEvent(*row) for row in rows]


def acked_seq(tx: Tx, terminal_id: str) -> int:
    """The last sequence the terminal acknowledged (0: none yet)."""
    return int(tx.connection.execute(_ACKED, {"terminal_id": terminal_id}).scalar() or 0)


def save_ack(tx: Tx, terminal_id: str, seq: int, now: datetime) -> None:
    """Move the terminal's ack forward to `seq` (never back, never past the last event written)."""
    last = tx.connection.execute(_LAST_SEQ, {"terminal_id": terminal_id}).scalar()
    seq = min(seq, int(last or 0))
    if seq <= 0:
        return
    tx.connection.execute(_UPSERT_ACK[tx.dialect], {"ack_terminal": terminal_id, "ack_seq": seq, "ack_at": now})


def latest_seqs(tx: Tx, terminal_ids: list[str]) -> dict[str, int]:
    """The last sequence given to each terminal's events (terminals that do not exist are left out)."""
    if tx.dialect == "postgresql":
        return {id_: seq for id_, seq in tx.connection.execute(_LATEST_SEQS_PG, {"ids": terminal_ids})}
    latest: dict[str, int] = {}
    for start in range(0, len(terminal_ids), _IN_CHUNK):
        chunk = terminal_ids[start : start + _IN_CHUNK]
        latest.update({id_: seq for id_, seq in tx.connection.execute(_LATEST_SEQS_IN, {"ids": chunk})})
    return latest


def notification_dsn(database_url: str) -> str:
    """The plain PostgreSQL DSN of `database_url`, for the LISTEN connection (asyncpg without SQLAlchemy)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
