"""Terminals: checking signed requests (key, time window, nonce, HMAC), and listing, disabling and rotating the
keys of terminals (operators sign in on them through `gateway.services.operators`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from gateway.domain.errors import Forbidden, NotFound, Unauthenticated
from gateway.domain.signing import NONCE_PATTERN, SIGNATURE_WINDOW_S, signature_matches
from gateway.persistence import terminals as repo
from gateway.persistence.database import Database, Tx
from gateway.services.credentials import (
    RotatedKey,
    SecretBox,
    new_terminal_key,
    revoke_row_key,
    rotate_row_key,
)


@dataclass(frozen=True)
class TerminalContext:
    """Who is calling: an authenticated terminal, its merchant's rules and the operator signed in on it."""

    terminal_id: str
    merchant_id: str
    store_id: str
    operator_id: str | None
    require_operator: bool
    single_limit_fen: int | None
    daily_limit_fen: int | None

    @classmethod
    def of(cls, row: Any) -> TerminalContext:
        """From a terminal row with its merchant's `require_operator`."""
        return cls(
            row.id,
            row.merchant_id,
            row.store_id,
            row.operator_id,
            row.require_operator,
            row.single_limit_fen,
            row.daily_limit_fen,
        )


@dataclass(frozen=True)
class SignedRequest:
    """What a terminal sent that the signature covers."""

    key_id: str
    timestamp: str
    nonce: str
    signature: str
    method: str
    path: str
    body: bytes


@dataclass(frozen=True)
class TerminalSummary:
    """A terminal as listed: no secret, only the ids of its keys (two during a rotation, oldest first)."""

    terminal_id: str
    merchant_id: str
    store_id: str
    name: str
    single_limit_fen: int | None
    daily_limit_fen: int | None
    created_at: datetime
    disabled_at: datetime | None
    key_ids: list[str]


class TerminalService:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box
        # Opening a sealed key is an AES decryption and an HMAC per request; a key's sealed text never changes.
        self._open_secret = lru_cache(maxsize=4096)(box.open)

    async def authenticate(self, request: SignedRequest, now: datetime | None = None) -> TerminalContext:
        """The terminal that signed this request; each nonce is accepted once within the time window.

        One transaction: the key is looked up, the signature checked and the nonce spent together, so a
        request that fails any check writes nothing.
        """
        now = now or datetime.now(UTC)
        if not request.timestamp.isdigit():
            raise Unauthenticated("X-Timestamp must be Unix seconds", code="invalid_timestamp")
        if abs(now.timestamp() - int(request.timestamp)) > SIGNATURE_WINDOW_S:
            raise Unauthenticated(
                f"X-Timestamp is more than {SIGNATURE_WINDOW_S} s from the gateway's clock", code="stale_timestamp"
            )
        if not NONCE_PATTERN.fullmatch(request.nonce):
            raise Unauthenticated("X-Nonce must be 16-64 letters, digits, '-' or '_'", code="invalid_nonce")
        return await self._db.transaction(self._verify, request, now)

    def _verify(self, tx: Tx, request: SignedRequest, now: datetime) -> TerminalContext:
        row = repo.terminal_by_key(tx, request.key_id)
        if row is None:
            raise Unauthenticated("unknown terminal key", code="unknown_terminal_key")
        secret = self._open_secret(row.secret_encrypted)
        if not signature_matches(
            secret, request.signature, request.method, request.path, request.timestamp, request.nonce, request.body
        ):
            raise Unauthenticated("the signature does not match the request", code="invalid_signature")
        # Told only to a caller who proved it holds the key.
        if row.merchant_disabled_at is not None:
            raise Forbidden(f"merchant {row.merchant_id} is disabled", code="merchant_disabled")
        if row.disabled_at is not None:
            raise Forbidden(f"terminal {row.id} is disabled", code="terminal_disabled")
        if not repo.spend_nonce(tx, request.key_id, request.nonce, now):
            raise Unauthenticated("this nonce was used already", code="replayed_nonce")
        return TerminalContext.of(row)

    async def forget_old_nonces(self, now: datetime | None = None) -> int:
        """Nonces older than twice the window can never be replayed (their timestamps are stale)."""
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=2 * SIGNATURE_WINDOW_S)
        return await self._db.transaction(repo.forget_nonces_before, cutoff)

    # ---- administration ------------------------------------------------------------------------------

    async def list_terminals(self, merchant_id: str | None = None) -> list[TerminalSummary]:
        rows = await self._db.transaction(repo.list_terminals, merchant_id)
        return [
            TerminalSummary(
                row.id,
                row.merchant_id,
                row.store_id,
                row.name,
                row.single_limit_fen,
                row.daily_limit_fen,
                row.created_at,
                row.disabled_at,
                [key for key in (row.previous_key_id, row.key_id) if key is not None],
            )
            for row in rows
        ]

    async def set_disabled(self, terminal_id: str, disabled: bool) -> datetime | None:
        """Disable the terminal (its requests and its cameras are refused) or enable it again."""
        disabled_at = datetime.now(UTC) if disabled else None
        if not await self._db.transaction(repo.set_terminal_disabled, terminal_id, disabled_at):
            raise NotFound(f"no terminal {terminal_id}", code="terminal_not_found")
        return disabled_at

    async def rotate_key(self, terminal_id: str) -> RotatedKey:
        """Issue the terminal a new signing key; the current one keeps signing until `revoke_key`."""
        key_id, secret = new_terminal_key()
        sealed = self._box.seal(secret)
        previous = await self._db.transaction(rotate_row_key, repo.KEYS, "terminal", terminal_id, key_id, sealed)
        return RotatedKey(terminal_id, key_id, secret, previous)

    async def revoke_key(self, terminal_id: str, key_id: str) -> None:
        """Revoke one of the terminal's two keys (`tk_...`); the other one stays."""
        await self._db.transaction(revoke_row_key, repo.KEYS, "terminal", terminal_id, key_id)


def require_operator_if_needed(terminal: TerminalContext) -> None:
    if terminal.require_operator and terminal.operator_id is None:
        raise Forbidden("this merchant requires an operator signed in on the terminal", code="operator_required")
