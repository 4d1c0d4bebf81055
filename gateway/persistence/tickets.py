"""Websocket tickets: short-lived, single use, stored hashed."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, insert, select, update

from gateway.persistence.database import Tx
from gateway.persistence.tables import TerminalTicket, table_of

_tickets = table_of(TerminalTicket)

_PURGE = delete(_tickets).where(_tickets.c.expires_at < bindparam("before"))
_ADD = insert(_tickets)
_SPEND = (
    update(_tickets)
    .where(
        _tickets.c.ticket_hash == bindparam("hash"),
        _tickets.c.terminal_id == bindparam("for_terminal"),
        _tickets.c.used_at.is_(None),
        _tickets.c.expires_at > bindparam("now"),
    )
    .values(used_at=bindparam("used_at"))
)
_FIND = select(_tickets.c.terminal_id, _tickets.c.expires_at, _tickets.c.used_at).where(
    _tickets.c.ticket_hash == bindparam("hash")
)


@dataclass(frozen=True)
class StoredTicket:
    terminal_id: str
    expires_at: datetime
    used_at: datetime | None


def ticket_hash(ticket: str) -> str:
    """Tickets are stored hashed: a database reader cannot open sockets with them."""
    return hashlib.sha256(ticket.encode()).hexdigest()


def purge_tickets(tx: Tx, expired_before: datetime) -> None:
    """Delete the tickets that expired before `expired_before` (used or not)."""
    tx.connection.execute(_PURGE, {"before": expired_before})


def add_ticket(tx: Tx, ticket: str, terminal_id: str, expires_at: datetime) -> None:
    tx.connection.execute(
        _ADD,
        {"ticket_hash": ticket_hash(ticket), "terminal_id": terminal_id, "expires_at": expires_at, "used_at": None},
    )


def spend_ticket(tx: Tx, ticket: str, terminal_id: str, now: datetime) -> bool:
    """Mark the ticket used, if it is this terminal's, unused and unexpired at `now` (compare-and-set)."""
    spent = tx.connection.execute(
        _SPEND, {"hash": ticket_hash(ticket), "for_terminal": terminal_id, "now": now, "used_at": now}
    )
    return spent.rowcount == 1


def find_ticket(tx: Tx, ticket: str) -> StoredTicket | None:
    row = tx.connection.execute(_FIND, {"hash": ticket_hash(ticket)}).first()
    return None if row is None else StoredTicket(row.terminal_id, row.expires_at, row.used_at)
