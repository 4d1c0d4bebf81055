"""Units of work: a synchronous function over one connection, run as one transaction in one hand-off.

Repositories are plain functions over a `Tx`; services compose them into a unit of work and hand it to
`Database.transaction`, which commits it whole or not at all. How it runs depends on the store:

- **SQLite** (the embedded default): one pysqlite connection owned by one worker thread. A whole transaction runs
  there in a single hand-off from the event loop (aiosqlite paid one per statement), and transactions never
  interleave, so there is no write-lock contention inside the process. Blocking work (a checkpoint, an fsync
  with `synchronous=FULL`, another process holding the lock) waits in that thread, never on the event loop.
- **PostgreSQL** (scale-out): asyncpg; the unit runs through SQLAlchemy's `run_sync`, each statement awaited on
  the loop, with a pool of connections so transactions of one instance run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from gateway.domain.events import TerminalEvent

P = ParamSpec("P")
T = TypeVar("T")

SqliteSynchronous = Literal["NORMAL", "FULL"]


@dataclass
class Tx:
    """One open transaction: its connection, an ORM session on it when a repository wants one, and what it wrote
    that others hear of once it commits (outbox events, for the in-process hub)."""

    connection: Connection
    committed_events: list[TerminalEvent] = field(default_factory=list)
    _session: Session | None = None

    @property
    def dialect(self) -> str:
        return self.connection.dialect.name

    @property
    def session(self) -> Session:
        """An ORM session joined to this transaction (it never commits it; the unit of work does)."""
        if self._session is None:
            self._session = Session(bind=self.connection, expire_on_commit=False, autobegin=True)
        return self._session

    def _flush_and_close(self) -> None:
        if self._session is not None:
            self._session.flush()
            self._session.close()
            self._session = None


class Database:
    """The one way the gateway reaches its store: `await db.transaction(work, *args)`."""

    def __init__(self, url: str, sqlite_synchronous: SqliteSynchronous = "NORMAL") -> None:
        parsed = make_url(url)
        self.url = url
        self.backend = parsed.get_backend_name()
        #: Called on the event loop with the outbox events of each committed transaction (the in-process hub).
        self.on_events_committed: Callable[[list[TerminalEvent]], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sync_engine: Engine | None = None
        self._async_engine: AsyncEngine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._sqlite_connection: Connection | None = None  # opened and used only in the database thread
        if self.backend == "sqlite":
            self._sync_engine = _sqlite_engine(parsed.set(drivername="sqlite").render_as_string(False))
            event.listen(self._sync_engine, "connect", _tune_sqlite(sqlite_synchronous))
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        else:
            self._async_engine = create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)

    @property
    def dialect_name(self) -> str:
        engine = self._sync_engine if self._sync_engine is not None else self._async_engine
        assert engine is not None
        return engine.dialect.name

    async def transaction(self, work: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `work(tx, *args)` in one transaction and return what it returns; any exception rolls it back."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        if self._thread is not None:
            return await loop.run_in_executor(self._thread, self._run_in_thread, work, args, kwargs)
        assert self._async_engine is not None
        async with self._async_engine.begin() as connection:
            tx, result = await connection.run_sync(_open_and_run, work, args, kwargs)
        self._announce(tx.committed_events)
        return result

    def _run_in_thread(self, work: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        # The thread keeps its one connection open: a pool check-out and reset per transaction cost as much as
        # a statement.
        if self._sqlite_connection is None or self._sqlite_connection.invalidated:
            assert self._sync_engine is not None
            self._sqlite_connection = self._sync_engine.connect()
        connection = self._sqlite_connection
        with connection.begin():
            tx, result = _open_and_run(connection, work, args, kwargs)
        if tx.committed_events and self.on_events_committed is not None and self._loop is not None:
            # From the thread: the events reach the hub even if the awaiting request was cancelled meanwhile.
            self._loop.call_soon_threadsafe(self.on_events_committed, tx.committed_events)
        return result

    def _close_in_thread(self) -> None:
        if self._sqlite_connection is not None:
            self._sqlite_connection.close()
            self._sqlite_connection = None
        assert self._sync_engine is not None
        self._sync_engine.dispose()

    def _announce(self, events: list[TerminalEvent]) -> None:
        if events and self.on_events_committed is not None:
            self.on_events_committed(events)

    async def dispose(self) -> None:
        if self._thread is not None:
            assert self._sync_engine is not None
            await asyncio.get_running_loop().run_in_executor(self._thread, self._close_in_thread)
            self._thread.shutdown(wait=True)
        if self._async_engine is not None:
            await self._async_engine.dispose()


def ping(tx: Tx) -> None:
    """One round trip: the database answers (readiness)."""
    tx.connection.execute(select(1))


def _open_and_run(
    connection: Connection, work: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Tx, T]:
    tx = Tx(connection)
    try:
        result = work(tx, *args, **kwargs)
        tx._flush_and_close()
    finally:
        if tx._session is not None:  # work raised: the session goes with the rolled-back transaction
            with contextlib.suppress(Exception):
                tx._session.close()
    return tx, result


def _sqlite_engine(url: str) -> Engine:
    """One connection, used only from the database thread; an in-memory database keeps its one connection."""
    parsed = make_url(url)
    connect_args = {"check_same_thread": False, "timeout": 30}
    if not parsed.database or parsed.database == ":memory:":
        return create_engine(url, connect_args=connect_args, poolclass=StaticPool)
    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, connect_args=connect_args, pool_size=1, max_overflow=0)


def _tune_sqlite(synchronous: SqliteSynchronous) -> Callable[[Any, Any], None]:
    """WAL; NORMAL keeps every commit across a process crash, FULL also across power loss (an fsync per commit)."""

    def tune(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return tune
