"""Idempotent requests: the first response to a key is replayed; a different body or a retry in flight is refused."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.domain.errors import Conflict, InvalidInput
from gateway.persistence.tables import IdempotencyRecord


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


def request_fingerprint(body: dict[str, Any]) -> str:
    """SHA-256 of the request's canonical JSON, so key order and spacing do not matter."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def check_idempotency_key(key: str | None) -> None:
    if key is not None and not (1 <= len(key) <= 64 and key.isprintable()):
        raise InvalidInput("Idempotency-Key must be 1-64 printable characters", code="invalid_idempotency_key")


class IdempotencyStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def begin(self, terminal_id: str, key: str, fingerprint: str) -> StoredResponse | None:
        """Claim the key; returns the stored response of an earlier identical request instead, if any."""
        try:
            async with self._sessions.begin() as session:
                session.add(IdempotencyRecord(terminal_id=terminal_id, key=key, request_hash=fingerprint))
            return None
        except IntegrityError:
            pass
        async with self._sessions() as session:
            record = await session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.terminal_id == terminal_id, IdempotencyRecord.key == key
                )
            )
        if record is None:  # the first request failed and released the key in between: take it now
            return await self.begin(terminal_id, key, fingerprint)
        if record.request_hash != fingerprint:
            raise InvalidInput(
                "this Idempotency-Key (or out_trade_no) was used with a different request body",
                code="idempotency_key_reused",
            )
        if record.response_status is None or record.response_body is None:
            raise Conflict("the first request with this key is still being processed", code="request_in_flight")
        return StoredResponse(record.response_status, record.response_body)

    async def finish(self, terminal_id: str, key: str, response: StoredResponse) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(IdempotencyRecord)
                .where(IdempotencyRecord.terminal_id == terminal_id, IdempotencyRecord.key == key)
                .values(response_status=response.status, response_body=response.body)
            )

    async def release(self, terminal_id: str, key: str) -> None:
        """Forget a key whose request changed nothing, so a corrected retry is processed afresh."""
        async with self._sessions.begin() as session:
            await session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.terminal_id == terminal_id, IdempotencyRecord.key == key
                )
            )

    async def forget_older_than(self, age: timedelta) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.created_at < datetime.now(UTC) - age)
            )
