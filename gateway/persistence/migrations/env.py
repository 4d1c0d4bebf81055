"""Alembic environment: runs on a connection handed in by the gateway, or opens its own async engine."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

from gateway.persistence.database import Database
from gateway.persistence.tables import Base, StrEnumType, UTCDateTime

config = context.config


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def render_item(type_: str, obj: Any, _context: AutogenContext) -> str | Literal[False]:
    """Write our column types as the plain types they store, so migrations never import our code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, StrEnumType):
        return f"sa.String(length={obj.length})"
    return False


async def run_with_own_engine(url: str) -> None:
    db = Database(url)
    try:
        await db.transaction(lambda tx: run_on(tx.connection))
    finally:
        await db.dispose()


def main() -> None:
    if context.is_offline_mode():
        raise SystemExit("offline (SQL script) migrations are not supported; run `gateway db upgrade`")
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
    else:
        asyncio.run(run_with_own_engine(config.get_main_option("sqlalchemy.url") or ""))


main()
