"""Terminal events for one gateway instance: hub, outbox log, tickets, and what feeds the hub."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.domain.events import TerminalEvent
from gateway.persistence import event_log, tickets
from gateway.persistence.database import Database, Tx
from gateway.realtime.hub import EventHub
from gateway.realtime.sources import PostgresListener

#: Heartbeats are checked a quarter heartbeat apart, and at least this often (seconds).
MAX_TICK_S = 1.0
#: Used and expired tickets are kept this long (for the logs' sake), then deleted when new ones are issued.
TICKET_RETENTION = timedelta(hours=1)


class EventLog:
    """Replay from the outbox by per-terminal sequence, and each terminal's acknowledged position."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def after(self, terminal_id: str, seq: int, limit: int) -> list[TerminalEvent]:
        return await self._db.transaction(event_log.events_after, terminal_id, seq, limit)

    async def acked(self, terminal_id: str) -> int:
        return await self._db.transaction(event_log.acked_seq, terminal_id)

    async def save_ack(self, terminal_id: str, seq: int) -> None:
        """Move the terminal's ack forward to `seq` (never back, never past the last event written)."""
        await self._db.transaction(event_log.save_ack, terminal_id, seq, datetime.now(UTC))

    async def poll(self, terminal_id: str, after: int, limit: int) -> list[TerminalEvent]:
        """Events after `after`, which the poller thereby acknowledges: one unit of work, one hand-off."""
        now = datetime.now(UTC)

        def read_and_ack(tx: Tx) -> list[TerminalEvent]:
            events = event_log.events_after(tx, terminal_id, after, limit)
            event_log.save_ack(tx, terminal_id, after, now)
            return events

        return await self._db.transaction(read_and_ack)

    async def latest_seqs(self, terminal_ids: list[str]) -> dict[str, int]:
        """Each terminal's last event sequence (the listener's catch-up after a gap in notifications)."""
        return await self._db.transaction(event_log.latest_seqs, terminal_ids)


class TicketRefused(Exception):
    """The websocket ticket does not open this terminal's stream; the message says why (for the close reason)."""


@dataclass(frozen=True)
class IssuedTicket:
    ticket: str
    expires_at: datetime


class TicketStore:
    """Short-lived single-use tickets: a signed REST call gets one, the websocket handshake spends it."""

    def __init__(self, db: Database, ttl_s: float) -> None:
        self._db = db
        self._ttl = timedelta(seconds=ttl_s)

    async def issue(self, terminal_id: str) -> IssuedTicket:
        now = datetime.now(UTC)
        ticket = f"wst_{secrets.token_urlsafe(24)}"
        expires_at = now + self._ttl

        def store(tx: Tx) -> None:
            tickets.purge_tickets(tx, now - TICKET_RETENTION)
            tickets.add_ticket(tx, ticket, terminal_id, expires_at)

        await self._db.transaction(store)
        return IssuedTicket(ticket, expires_at)

    async def redeem(self, ticket: str, terminal_id: str) -> None:
        """Spend the ticket for `terminal_id`, or raise TicketRefused."""
        now = datetime.now(UTC)

        def spend(tx: Tx) -> None:
            if tickets.spend_ticket(tx, ticket, terminal_id, now):
                return
            found = tickets.find_ticket(tx, ticket)
            if found is None:
                raise TicketRefused("unknown ticket")
            if found.terminal_id != terminal_id:
                raise TicketRefused("the ticket is for another terminal")
            if found.used_at is not None:
                raise TicketRefused("the ticket was used already")
            raise TicketRefused("the ticket expired")

        await self._db.transaction(spend)


class TerminalEvents:
    """On PostgreSQL the hub is fed by LISTEN/NOTIFY (every instance's commits); on SQLite by local commits."""

    def __init__(
        self, db: Database, queue_limit: int, ticket_ttl_s: float, heartbeat_s: float, max_lifetime_s: float
    ) -> None:
        self.max_lifetime_s = max_lifetime_s  # a websocket is closed (1001) after this long
        self.hub = EventHub(queue_limit, heartbeat_s)
        self.log = EventLog(db)
        self.tickets = TicketStore(db, ticket_ttl_s)
        self.listener: PostgresListener | None = None
        if db.dialect_name == "postgresql":
            self.listener = PostgresListener(event_log.notification_dsn(db.url), self.hub, self.log.latest_seqs)
        else:
            # One process owns the store: what it commits is all there is to hear.
            db.on_events_committed = self._publish
        self._ticker: asyncio.Task[None] | None = None

    def _publish(self, events: list[TerminalEvent]) -> None:
        for event in events:
            self.hub.publish(event)

    def start(self) -> None:
        if self.listener is not None:
            self.listener.start()
        self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="terminal-heartbeats")

    async def _tick(self) -> None:
        """The one heartbeat clock of every terminal connection in this process."""
        interval = min(MAX_TICK_S, self.hub.heartbeat_s / 4)
        while True:
            await asyncio.sleep(interval)
            self.hub.beat()

    async def aclose(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self.listener is not None:
            await self.listener.aclose()
