"""Terminal events for one gateway instance: hub, outbox log, tickets, and the source that feeds the hub."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.realtime.hub import EventHub
from gateway.realtime.sources import PostgresListener, publish_on_commit
from gateway.realtime.store import EventLog, TicketStore

#: Heartbeats are checked a quarter heartbeat apart, and at least this often (seconds).
MAX_TICK_S = 1.0


class TerminalEvents:
    """On PostgreSQL the hub is fed by LISTEN/NOTIFY (every instance's commits); on SQLite by local commits."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        engine: AsyncEngine,
        database_url: str,
        queue_limit: int,
        ticket_ttl_s: float,
        heartbeat_s: float,
    ) -> None:
        self.hub = EventHub(queue_limit, heartbeat_s)
        self.log = EventLog(sessions)
        self.tickets = TicketStore(sessions, ticket_ttl_s)
        self.listener: PostgresListener | None = None
        if engine.dialect.name == "postgresql":
            self.listener = PostgresListener(database_url, self.hub)
        else:
            publish_on_commit(engine, self.hub)
        self._ticker: asyncio.Task[None] | None = None

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
