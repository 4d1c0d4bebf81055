"""The unit of work: one transaction per call, committed whole or not at all; SQLite's one at a time, never
blocking the event loop on another process's lock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.persistence.database import Database, SqliteSynchronous, Tx


@pytest.fixture(params=["NORMAL", "FULL"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    synchronous: SqliteSynchronous = request.param
    database = Database(f"sqlite:///{tmp_path / 'one.db'}", synchronous)
    await database.transaction(lambda tx: tx.connection.execute(text("CREATE TABLE t (n INTEGER)")))
    yield database
    await database.dispose()


def _numbers(tx: Tx) -> list[int]:
    return list(tx.connection.execute(text("SELECT n FROM t ORDER BY n")).scalars())


async def test_a_unit_that_raises_writes_nothing(db: Database) -> None:
    def half_then_fail(tx: Tx) -> None:
        tx.connection.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("refused")

    with pytest.raises(RuntimeError):
        await db.transaction(half_then_fail)
    assert await db.transaction(_numbers) == []


async def test_units_run_one_after_the_other_on_one_thread(db: Database, request: pytest.FixtureRequest) -> None:
    threads, order = set(), []

    def first(tx: Tx) -> None:
        threads.add(threading.get_ident())
        tx.connection.execute(text("INSERT INTO t VALUES (1)"))
        order.append("first done")

    def second(tx: Tx) -> None:
        threads.add(threading.get_ident())
        order.append("second began")
        tx.connection.execute(text("INSERT INTO t VALUES (2)"))

    await asyncio.gather(db.transaction(first), db.transaction(second))
    assert order == ["first done", "second began"]
    assert len(threads) == 1
    # NORMAL commits never fsync, so they run on the event loop; FULL ones in the database thread.
    assert (threading.get_ident() in threads) is (request.node.callspec.params["db"] == "NORMAL")
    assert await db.transaction(_numbers) == [1, 2]


async def test_another_process_holding_the_lock_is_waited_for_without_blocking_the_loop(
    db: Database, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "one.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process's write transaction
    other.execute("INSERT INTO t VALUES (1)")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    ticking = asyncio.create_task(ticker())
    writing = asyncio.create_task(db.transaction(lambda tx: tx.connection.execute(text("INSERT INTO t VALUES (2)"))))
    seen = ticks
    for _ in range(200):  # the loop keeps running while the unit waits for the lock
        await asyncio.sleep(0.005)
        if ticks >= seen + 5:
            break
    assert ticks >= seen + 5 and not writing.done()
    other.execute("COMMIT")
    other.close()
    await writing
    ticking.cancel()
    assert await db.transaction(_numbers) == [1, 2]


async def test_committed_events_reach_the_listener_only_after_commit(db: Database) -> None:
    heard: list[list[object]] = []
    db.on_events_committed = heard.append

    def write(tx: Tx, fail: bool) -> None:
        tx.committed_events.append("event")  # type: ignore[arg-type]
        if fail:
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await db.transaction(write, True)
    await db.transaction(write, False)
    # A thread hands the events to the loop before its result, so they are heard by the time the call returns.
    assert heard == [["event"]]
