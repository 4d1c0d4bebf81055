"""Run Alembic migrations programmatically: from the CLI, on start, or inside tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from gateway.persistence.database import Database, Tx

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the database behind `db` to `revision`."""

    def run(tx: Tx) -> None:
        config = alembic_config()
        config.attributes["connection"] = tx.connection
        command.upgrade(config, revision)

    await db.transaction(run)
