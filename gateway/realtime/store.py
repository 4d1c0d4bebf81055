"""What the outbox and its neighbours hold for terminals: events by sequence, ack positions, websocket tickets."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.persistence.tables import OutboxEvent, Terminal, TerminalEventAck, TerminalTicket
from gateway.realtime.hub import TerminalEvent

#: Used and expired tickets are kept this long (for the logs' sake), then deleted when new ones are issued.
TICKET_RETENTION = timedelta(hours=1)


def terminal_event(row: OutboxEvent) -> TerminalEvent:
    return TerminalEvent(row.id, row.terminal_id, row.seq, row.type, row.order_id, row.payload, row.created_at)


class EventLog:
    """Replay from the outbox by per-terminal sequence, and each terminal's acknowledged position."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def after(self, terminal_id: str, seq: int, limit: int) -> list[TerminalEvent]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.terminal_id == terminal_id, OutboxEvent.seq > seq)
                .order_by(OutboxEvent.seq)
                .limit(limit)
            )
            return [terminal_event(row) for row in rows]

    async def acked(self, terminal_id: str) -> int:
        async with self._sessions() as session:
            acked = await session.scalar(
                select(TerminalEventAck.acked_seq).where(TerminalEventAck.terminal_id == terminal_id)
            )
        return int(acked or 0)

    async def save_ack(self, terminal_id: str, seq: int) -> None:
        """Move the terminal's ack forward to `seq` (never back, never past the last event written)."""
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            last = await session.scalar(select(Terminal.event_seq).where(Terminal.id == terminal_id))
            seq = min(seq, int(last or 0))
            if seq <= 0:
                return
            insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
            statement = insert(TerminalEventAck).values(terminal_id=terminal_id, acked_seq=seq, updated_at=now)
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=[TerminalEventAck.terminal_id],
                    set_={
                        "acked_seq": case((TerminalEventAck.acked_seq < seq, seq), else_=TerminalEventAck.acked_seq),
                        "updated_at": now,
                    },
                )
            )


class TicketRefused(Exception):
    """The websocket ticket does not open this terminal's stream; the message says why (for the close reason)."""


@dataclass(frozen=True)
class IssuedTicket:
    ticket: str
    expires_at: datetime


def ticket_hash(ticket: str) -> str:
    """Tickets are stored hashed: a database reader cannot open sockets with them."""
    return hashlib.sha256(ticket.encode()).hexdigest()


class TicketStore:
    """Short-lived single-use tickets: a signed REST call gets one, the websocket handshake spends it."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_s: float) -> None:
        self._sessions = sessions
        self._ttl = timedelta(seconds=ttl_s)

    async def issue(self, terminal_id: str) -> IssuedTicket:
        now = datetime.now(UTC)
        ticket = f"wst_{secrets.token_urlsafe(24)}"
        expires_at = now + self._ttl
        async with self._sessions.begin() as session:
            await session.execute(delete(TerminalTicket).where(TerminalTicket.expires_at < now - TICKET_RETENTION))
            session.add(TerminalTicket(ticket_hash=ticket_hash(ticket), terminal_id=terminal_id, expires_at=expires_at))
        return IssuedTicket(ticket, expires_at)

    async def redeem(self, ticket: str, terminal_id: str) -> None:
        """Spend the ticket for `terminal_id`, or raise TicketRefused."""
        now = datetime.now(UTC)
        hashed = ticket_hash(ticket)
        async with self._sessions.begin() as session:
            spent = await session.execute(
                update(TerminalTicket)
                .where(
                    TerminalTicket.ticket_hash == hashed,
                    TerminalTicket.terminal_id == terminal_id,
                    TerminalTicket.used_at.is_(None),
                    TerminalTicket.expires_at > now,
                )
                .values(used_at=now)
            )
            if getattr(spent, "rowcount", 0) == 1:
                return
            found = await session.get(TerminalTicket, hashed)
        if found is None:
            raise TicketRefused("unknown ticket")
        if found.terminal_id != terminal_id:
            raise TicketRefused("the ticket is for another terminal")
        if found.used_at is not None:
            raise TicketRefused("the ticket was used already")
        raise TicketRefused("the ticket expired")
