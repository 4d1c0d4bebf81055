"""Migrations build exactly the tables the models describe, on SQLite and PostgreSQL, and store UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.engine import Connection

from gateway.persistence.db import create_engine
from gateway.persistence.migrate import upgrade
from gateway.persistence.tables import Base, Merchant


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await upgrade(engine)  # a second run finds nothing to do

        def differences(connection: Connection) -> list[object]:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))

        async with engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await engine.dispose()


async def test_times_come_back_aware_utc(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        beijing = timezone(timedelta(hours=8))
        async with engine.begin() as connection:
            await connection.execute(
                Merchant.__table__.insert().values(
                    id="mch_t",
                    name="t",
                    require_operator=False,
                    created_at=datetime(2026, 11, 21, 16, 0, tzinfo=beijing),
                )
            )
        async with engine.connect() as connection:
            stored = (await connection.execute(select(Merchant.created_at))).scalar_one()
        assert stored == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
        assert stored.utcoffset() == timedelta(0)
    finally:
        await engine.dispose()


async def test_naive_times_are_refused(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        with pytest.raises(Exception, match="naive datetime"):
            async with engine.begin() as connection:
                await connection.execute(
                    Merchant.__table__.insert().values(
                        id="mch_n", name="n", require_operator=False, created_at=datetime(2026, 11, 21, 8, 0)
                    )
                )
    finally:
        await engine.dispose()


def test_migrations_form_one_line() -> None:
    from alembic.script import ScriptDirectory

    from gateway.persistence.migrate import alembic_config

    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1, "merge or re-chain the new revision"
