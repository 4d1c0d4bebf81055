"""Idempotent requests: the first response to a key is replayed; a different body or a retry in flight is refused."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.domain.errors import Conflict, InvalidInput
from gateway.persistence import idempotency
from gateway.persistence.database import Database, Tx


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


@dataclass(frozen=True)
class RequestKey:
    """A terminal's idempotency key and the fingerprint of the body sent with it.

    `from_header` is false when the terminal sent no Idempotency-Key and the merchant order number stands in.
    """

    terminal_id: str
    key: str
    fingerprint: str
    from_header: bool = True

    @classmethod
    def of(cls, terminal_id: str, idempotency_key: str | None, natural_key: str, body: dict[str, Any]) -> RequestKey:
        """The request's key: its Idempotency-Key header (checked), else its natural key (the merchant order number)."""
        check_idempotency_key(idempotency_key)
        if idempotency_key is None:
            return cls(terminal_id, natural_key, request_fingerprint(body), from_header=False)
        return cls(terminal_id, idempotency_key, request_fingerprint(body))


def claim_in(tx: Tx, request: RequestKey, now: datetime) -> StoredResponse | None:
    """Claim the key in the caller's transaction; returns the stored response of an earlier identical request instead.

    Raises when the key was used with another body (422 `idempotency_key_reused`; without an Idempotency-Key the
    out_trade_no was, which is 409 `duplicate_out_trade_no`) or its first request is still running (409). When the
    caller's transaction rolls back, so does the claim: a refused request leaves the key free for a corrected retry.
    """
    if idempotency.claim(tx, request.terminal_id, request.key, request.fingerprint, now):
        return None
    found = idempotency.find(tx, request.terminal_id, request.key)
    assert found is not None  # a claim loses only to a committed row, which this transaction now sees
    request_hash, status, body = found
    if request_hash != request.fingerprint and not request.from_header:
        raise Conflict(
            "this out_trade_no was used for another payment: send a new out_trade_no, or the same body to get "
            "that payment's answer",
            code="duplicate_out_trade_no",
        )
    if request_hash != request.fingerprint:
        raise InvalidInput("this Idempotency-Key was used with a different request body", code="idempotency_key_reused")
    if status is None or body is None:
        raise Conflict("the first request with this key is still being processed", code="request_in_flight")
    return StoredResponse(status, body)


def answer_in(tx: Tx, request: RequestKey, response: StoredResponse) -> None:
    """Store the response retries will be given, in the caller's transaction."""
    idempotency.answer(tx, request.terminal_id, request.key, response.status, response.body)


class IdempotencyStore:
    """Housekeeping of the stored answers (claims and answers happen inside each request's own unit of work)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def forget_older_than(self, age: timedelta) -> None:
        await self._db.transaction(idempotency.forget_before, datetime.now(UTC) - age)
