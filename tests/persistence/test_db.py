"""The SQLite engine: sessions take turns on one connection instead of fighting over SQLite's write lock."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from gateway.persistence.db import create_engine, create_session_factory


async def test_a_second_sqlite_session_waits_for_the_first(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}")
    sessions = create_session_factory(engine)

    async def second_writer() -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO t VALUES (2)"))

    try:
        async with sessions.begin() as first:
            await first.execute(text("CREATE TABLE t (n INTEGER)"))
            await first.execute(text("INSERT INTO t VALUES (1)"))
            second = asyncio.create_task(second_writer())
            await asyncio.sleep(0.05)  # time enough for a second connection to open and block on the lock
            assert not second.done()
            assert engine.sync_engine.pool.checkedout() == 1  # type: ignore[attr-defined]
        await second
        async with sessions() as session:
            assert list((await session.scalars(text("SELECT n FROM t ORDER BY n"))).all()) == [1, 2]
    finally:
        await engine.dispose()
