"""Units of work: a synchronous function over one connection, run as one transaction in one hand-off.

Repositories are plain functions over a `Tx`; services compose them into a unit of work and hand it to
`Database.transaction`, which commits it whole or not at all. How it runs depends on the store:

- **SQLite** (the embedded default): one pysqlite connection, and transactions never interleave, so there is no
  write-lock contention inside the process. With `synchronous=NORMAL` a unit runs on the event loop itself: in WAL
  mode a commit then writes to the WAL without an fsync, a statement takes microseconds, and nothing else may
  block there: checkpoints (which fsync) run in a thread of their own on another connection, and a lock held by
  another process is waited for with an async back-off, not a blocking busy wait. With `synchronous=FULL` every
  commit fsyncs, so the units run in one database thread instead (one hand-off per unit; aiosqlite paid one per
  statement).
- **PostgreSQL** (scale-out): asyncpg; the unit runs through SQLAlchemy's `run_sync`, each statement awaited on
  the loop, with a pool of connections so transactions of one instance run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar, cast

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from gateway.domain.events import TerminalEvent

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

SqliteSynchronous = Literal["NORMAL", "FULL"]
#: How long a unit waits for another process's write lock before it fails.
LOCK_WAIT_S = 30.0
#: How often the WAL is checkpointed, when anything was committed since the last time.
CHECKPOINT_INTERVAL_S = 1.0


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
        self._sqlite_connection: Connection | None = None  # SQLite's one connection, used by one thread at a time
        self._on_loop = False
        self._checkpoints: _Checkpoints | None = None
        if self.backend == "sqlite":
            sqlite_url = parsed.set(drivername="sqlite")
            self._sync_engine = _sqlite_engine(sqlite_url.render_as_string(False))
            self._on_loop = sqlite_synchronous == "NORMAL"
            event.listen(self._sync_engine, "connect", _tune_sqlite(sqlite_synchronous, self._on_loop))
            event.listen(self._sync_engine, "begin", _begin_immediate)
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
            if self._on_loop and sqlite_url.database and sqlite_url.database != ":memory:":
                self._checkpoints = _Checkpoints(sqlite_url.database, self._thread)
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
        if self._on_loop:
            return await self._run_on_loop(work, args, kwargs)
        if self._thread is not None:
            return await loop.run_in_executor(self._thread, self._run_sqlite, work, args, kwargs, True)
        assert self._async_engine is not None
        async with self._async_engine.begin() as connection:
            tx, result = await connection.run_sync(_open_and_run, work, args, kwargs)
        self._announce(tx.committed_events)
        return result

    async def _run_on_loop(self, work: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        """The unit, here and now; while another process holds the write lock, retried after a non-blocking wait."""
        if self._checkpoints is not None:
            self._checkpoints.start()
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + LOCK_WAIT_S
        delay = 0.001
        while True:
            try:
                return self._run_sqlite(work, args, kwargs, False)
            except (
                OperationalError,
                sqlite3.OperationalError,
            ) as exc:  # the unit rolled back: running it again is safe
                if not _is_locked(exc) or loop.time() + delay > give_up_at:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _run_sqlite(self, work: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any], in_thread: bool) -> T:
        # The one connection stays open: a pool check-out and reset per transaction cost as much as a statement.
        if self._sqlite_connection is None or self._sqlite_connection.invalidated:
            assert self._sync_engine is not None
            self._sqlite_connection = self._sync_engine.connect()
        connection = self._sqlite_connection
        with connection.begin():
            tx, result = _open_and_run(connection, work, args, kwargs)
        if self._checkpoints is not None:
            self._checkpoints.committed += 1
        if not in_thread:
            self._announce(tx.committed_events)
        elif tx.committed_events and self.on_events_committed is not None and self._loop is not None:
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
        if self._checkpoints is not None:
            await self._checkpoints.stop()
        if self._thread is not None:
            assert self._sync_engine is not None
            await asyncio.get_running_loop().run_in_executor(self._thread, self._close_in_thread)
            self._thread.shutdown(wait=True)
        if self._async_engine is not None:
            await self._async_engine.dispose()


class _Checkpoints:
    """WAL checkpoints off the event loop: a checkpoint fsyncs the database file, which must not stall requests.

    PASSIVE, on a connection of its own in the database thread: it never blocks the writer on the loop, and
    copies whatever the WAL holds when no reader needs it, so the WAL is reused instead of growing.
    """

    def __init__(self, path: str, thread: ThreadPoolExecutor) -> None:
        self._path = path
        self._thread = thread
        self._connection: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.committed = 0  # transactions committed since the last checkpoint

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sqlite-checkpoints")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL_S)
            if self.committed:
                self.committed = 0
                try:
                    await loop.run_in_executor(self._thread, self._checkpoint)
                except sqlite3.Error:
                    log.warning("WAL checkpoint failed; trying again later", exc_info=True)

    def _checkpoint(self) -> None:
        if self._connection is None:
            self._connection = sqlite3.connect(self._path, timeout=30, check_same_thread=False)
        self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._connection is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._connection.close)
            self._connection = None


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


def _tune_sqlite(synchronous: SqliteSynchronous, on_loop: bool) -> Callable[[Any, Any], None]:
    """WAL; NORMAL keeps every commit across a process crash, FULL also across power loss (an fsync per commit).

    On the loop the connection never waits for a lock (the unit is retried instead) and never checkpoints itself.
    Transactions are begun by `_begin_immediate`, not by the driver.
    """

    def tune(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={0 if on_loop else LOCK_WAIT_S * 1000:.0f}")
        if on_loop:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    return tune


def _begin_immediate(connection: Connection) -> None:
    """Take the write lock when the unit begins: no unit can then fail half-way on a lock (nor deadlock on one).

    Straight on the driver: through `exec_driver_sql` it cost as much as one of the unit's statements.
    """
    driver = cast(sqlite3.Connection, connection.connection.driver_connection)
    driver.execute("BEGIN IMMEDIATE")


def _is_locked(error: Exception) -> bool:
    """SQLite's "database is locked", raw (from BEGIN) or wrapped by SQLAlchemy (from a statement)."""
    cause = error.orig if isinstance(error, OperationalError) else error
    return isinstance(cause, sqlite3.OperationalError) and "locked" in str(cause)
