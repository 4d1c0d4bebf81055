"""Prebuilt statements give what Connection.execute gives: the same values back, the same errors, on both stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from gateway.domain.orders import OrderStatus
from gateway.persistence.database import Database
from gateway.persistence.migrate import upgrade
from gateway.persistence.prebuilt import Prebuilt
from gateway.persistence.tables import Merchant, StrEnumType, UTCDateTime, table_of

_merchants = table_of(Merchant)
_INSERT = Prebuilt(insert(_merchants))
_BY_ID = Prebuilt(select(_merchants).where(_merchants.c.id == bindparam("merchant_id")))


def merchant_row(**fields: object) -> dict[str, object]:
    """A merchants row: `fields` over every column's scalar default (prebuilt inserts take no Python defaults)."""
    defaults = {
        column.name: column.default.arg
        for column in _merchants.columns
        if column.default is not None and not callable(column.default.arg)
    }
    return {**defaults, **fields}


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await upgrade(database)
    yield database
    await database.dispose()


async def test_values_come_back_as_the_full_path_gives_them(db: Database) -> None:
    beijing = timezone(timedelta(hours=8))
    row = merchant_row(
        id="mch_p", name="商户", require_operator=True, created_at=datetime(2026, 12, 2, 9, tzinfo=beijing)
    )
    await db.transaction(lambda tx: _INSERT.rowcount(tx, row))
    fast = await db.transaction(lambda tx: _BY_ID.one(tx, {"merchant_id": "mch_p"})._asdict())
    full = await db.transaction(
        lambda tx: tx.connection.execute(select(_merchants).where(_merchants.c.id == "mch_p")).one()._asdict()
    )
    assert fast == full
    assert fast["created_at"] == datetime(2026, 12, 2, 1, tzinfo=UTC) and fast["require_operator"] is True
    assert await db.transaction(lambda tx: _BY_ID.first(tx, {"merchant_id": "mch_none"})) is None


async def test_a_broken_constraint_is_sqlalchemys_integrity_error(db: Database) -> None:
    row = merchant_row(id="mch_d", name="d", require_operator=False, created_at=datetime.now(UTC))
    await db.transaction(lambda tx: _INSERT.rowcount(tx, row))
    with pytest.raises(IntegrityError):
        await db.transaction(lambda tx: _INSERT.rowcount(tx, row))


async def test_enums_times_and_json_round_trip(db: Database) -> None:
    metadata = MetaData()
    table = Table(
        "prebuilt_probe",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("status", StrEnumType(OrderStatus)),
        Column("at", UTCDateTime),
        Column("detail", JSON),
    )
    await db.transaction(lambda tx: metadata.create_all(tx.connection))
    add, read = Prebuilt(insert(table)), Prebuilt(select(table.c.status, table.c.at, table.c.detail))
    at = datetime(2026, 12, 2, 4, 5, 6, 789000, tzinfo=UTC)
    row_id = await db.transaction(
        lambda tx: add.inserted_id(tx, {"status": OrderStatus.PAID, "at": at, "detail": {"a": [1, "二"]}})
    )
    assert row_id == 1
    [row] = await db.transaction(lambda tx: read.rows(tx, {}))
    assert row.status is OrderStatus.PAID and row.at == at and row.detail == {"a": [1, "二"]}
    await db.transaction(lambda tx: metadata.drop_all(tx.connection))


async def test_statements_that_need_python_defaults_are_refused(db: Database) -> None:
    without_created_at = {"id": "mch_x", "name": "x", "require_operator": False}  # created_at has default=utcnow
    if db.dialect_name != "sqlite":
        pytest.skip("the full path runs elsewhere, where SQLAlchemy fills the defaults itself")
    with pytest.raises(ValueError, match="Python-side defaults"):
        await db.transaction(lambda tx: _INSERT.rowcount(tx, without_created_at))
