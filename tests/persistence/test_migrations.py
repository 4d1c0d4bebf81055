"""Migrations build exactly the tables the models describe, on SQLite and PostgreSQL, and store UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from gateway.persistence.database import Database, Tx
from gateway.persistence.migrate import upgrade
from gateway.persistence.tables import Base, Merchant


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db)
        await upgrade(db)  # a second run finds nothing to do

        def differences(tx: Tx) -> list[object]:
            context = MigrationContext.configure(tx.connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))

        assert await db.transaction(differences) == []
    finally:
        await db.dispose()


async def test_times_come_back_aware_utc(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db)
        beijing = timezone(timedelta(hours=8))
        insert = Merchant.__table__.insert().values(
            id="mch_t", name="t", require_operator=False, created_at=datetime(2026, 11, 21, 16, 0, tzinfo=beijing)
        )
        await db.transaction(lambda tx: tx.connection.execute(insert))
        stored = await db.transaction(lambda tx: tx.connection.execute(select(Merchant.created_at)).scalar_one())
        assert stored == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
        assert stored.utcoffset() == timedelta(0)
    finally:
        await db.dispose()


async def test_naive_times_are_refused(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db)
        insert = Merchant.__table__.insert().values(
            id="mch_n", name="n", require_operator=False, created_at=datetime(2026, 11, 21, 8, 0)
        )
        with pytest.raises(Exception, match="naive datetime"):
            await db.transaction(lambda tx: tx.connection.execute(insert))
    finally:
        await db.dispose()


def test_migrations_form_one_line() -> None:
    from alembic.script import ScriptDirectory

    from gateway.persistence.migrate import alembic_config

    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1, "merge or re-chain the new revision"
