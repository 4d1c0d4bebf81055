"""Terminals: checking signed requests (key, time window, nonce, HMAC) and operators signing in and out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.domain.errors import Forbidden, Unauthenticated
from gateway.domain.signing import NONCE_PATTERN, SIGNATURE_WINDOW_S, signature_matches
from gateway.persistence.tables import Merchant, Operator, Terminal, TerminalNonce
from gateway.services.credentials import SecretBox, verify_password


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
    def of(cls, terminal: Terminal, require_operator: bool) -> TerminalContext:
        return cls(
            terminal.id,
            terminal.merchant_id,
            terminal.store_id,
            terminal.operator_id,
            require_operator,
            terminal.single_limit_fen,
            terminal.daily_limit_fen,
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


class TerminalService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> None:
        self._sessions = sessions
        self._box = box

    async def authenticate(self, request: SignedRequest, now: datetime | None = None) -> TerminalContext:
        """The terminal that signed this request; each nonce is accepted once within the time window."""
        now = now or datetime.now(UTC)
        if not request.timestamp.isdigit():
            raise Unauthenticated("X-Timestamp must be Unix seconds", code="invalid_timestamp")
        if abs(now.timestamp() - int(request.timestamp)) > SIGNATURE_WINDOW_S:
            raise Unauthenticated(
                f"X-Timestamp is more than {SIGNATURE_WINDOW_S} s from the gateway's clock", code="stale_timestamp"
            )
        if not NONCE_PATTERN.fullmatch(request.nonce):
            raise Unauthenticated("X-Nonce must be 16-64 letters, digits, '-' or '_'", code="invalid_nonce")
        async with self._sessions() as session:
            row = (
                await session.execute(
                    select(Terminal, Merchant.require_operator)
                    .join(Merchant, Merchant.id == Terminal.merchant_id)
                    .where(Terminal.key_id == request.key_id, Terminal.disabled_at.is_(None))
                )
            ).first()
        if row is None:
            raise Unauthenticated("unknown terminal key", code="unknown_terminal_key")
        terminal, require_operator = row
        secret = self._box.open(terminal.secret_encrypted)
        if not signature_matches(
            secret, request.signature, request.method, request.path, request.timestamp, request.nonce, request.body
        ):
            raise Unauthenticated("the signature does not match the request", code="invalid_signature")
        try:
            async with self._sessions.begin() as session:
                session.add(TerminalNonce(key_id=request.key_id, nonce=request.nonce, seen_at=now))
        except IntegrityError as exc:
            raise Unauthenticated("this nonce was used already", code="replayed_nonce") from exc
        return TerminalContext.of(terminal, require_operator)

    async def forget_old_nonces(self, now: datetime | None = None) -> int:
        """Nonces older than twice the window can never be replayed (their timestamps are stale)."""
        cutoff = (now or datetime.now(UTC)) - timedelta(seconds=2 * SIGNATURE_WINDOW_S)
        async with self._sessions.begin() as session:
            result = await session.execute(delete(TerminalNonce).where(TerminalNonce.seen_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    async def sign_in(self, terminal: TerminalContext, number: str, password: str) -> Operator:
        """Sign an operator of the terminal's merchant in on the terminal (replacing whoever was)."""
        async with self._sessions.begin() as session:
            operator = await session.scalar(
                select(Operator).where(Operator.merchant_id == terminal.merchant_id, Operator.number == number)
            )
            if operator is None or not verify_password(password, operator.password_hash):
                raise Forbidden("operator number or password is wrong", code="operator_sign_in_failed")
            await session.execute(
                update(Terminal)
                .where(Terminal.id == terminal.terminal_id)
                .values(operator_id=operator.id, operator_signed_in_at=datetime.now(UTC))
            )
        return operator

    async def sign_out(self, terminal: TerminalContext) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(Terminal)
                .where(Terminal.id == terminal.terminal_id)
                .values(operator_id=None, operator_signed_in_at=None)
            )


def require_operator_if_needed(terminal: TerminalContext) -> None:
    if terminal.require_operator and terminal.operator_id is None:
        raise Forbidden("this merchant requires an operator signed in on the terminal", code="operator_required")
