"""Terminal events for one gateway instance: hub, outbox log, tickets, and the source that feeds the hub."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from gateway.realtime.hub import EventHub
from gateway.realtime.sources import PostgresListener, publish_on_commit
from gateway.realtime.store import EventLog, TicketStore


class TerminalEvents:
    """On PostgreSQL the hub is fed by LISTEN/NOTIFY (every instance's commits); on SQLite by local commits."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        engine: AsyncEngine,
        database_url: str,
        queue_limit: int,
        ticket_ttl_s: float,
    ) -> None:
        self.hub = EventHub(queue_limit)
        self.log = EventLog(sessions)
        self.tickets = TicketStore(sessions, ticket_ttl_s)
        self.listener: PostgresListener | None = None
        if engine.dialect.name == "postgresql":
            self.listener = PostgresListener(database_url, self.hub)
        else:
            publish_on_commit(engine, self.hub)

    def start(self) -> None:
        if self.listener is not None:
            self.listener.start()

    async def aclose(self) -> None:
        if self.listener is not None:
            await self.listener.aclose()
