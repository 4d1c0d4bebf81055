"""The unit of work: one transaction per call, committed whole or not at all, SQLite's in one thread at a time."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.persistence.database import Database, Tx


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'one.db'}")
    await database.transaction(lambda tx: tx.connection.execute(text("CREATE TABLE t (n INTEGER)")))
    yield database  # type: ignore[misc]
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


async def test_sqlite_units_run_one_after_the_other_in_one_thread(db: Database) -> None:
    inside, threads, order = threading.Event(), set(), []

    def first(tx: Tx) -> None:
        threads.add(threading.get_ident())
        inside.set()
        tx.connection.execute(text("INSERT INTO t VALUES (1)"))
        order.append("first done")

    def second(tx: Tx) -> None:
        threads.add(threading.get_ident())
        order.append("second began")
        tx.connection.execute(text("INSERT INTO t VALUES (2)"))

    await asyncio.gather(db.transaction(first), db.transaction(second))
    assert order == ["first done", "second began"]
    assert len(threads) == 1 and threading.get_ident() not in threads
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
    # The thread hands the events to the loop before its result, so they are heard by the time the call returns.
    assert heard == [["event"]]
