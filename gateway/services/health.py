"""Readiness: whether the database answers."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError

from gateway.persistence.database import Database, ping


class Readiness:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def database_problem(self) -> str | None:
        """Why the database does not answer, or None when it does."""
        try:
            await self._db.transaction(ping)
        except (SQLAlchemyError, OSError) as exc:
            return type(exc).__name__
        return None
