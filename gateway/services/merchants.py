"""Merchants, their API keys, stores, terminals and operators: creation and authentication."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.domain.errors import InvalidInput, NotFound
from gateway.domain.ids import new_id
from gateway.persistence.tables import ApiKey, Merchant, Operator, Store, Terminal
from gateway.services.credentials import (
    SecretBox,
    hash_password,
    issue_api_key,
    new_terminal_key,
    secret_matches,
    split_api_key,
)

OPERATOR_ROLES = ("cashier", "supervisor")


@dataclass(frozen=True)
class NewMerchant:
    merchant_id: str
    name: str
    api_key: str  # shown once


@dataclass(frozen=True)
class NewTerminal:
    terminal_id: str
    merchant_id: str
    store_id: str
    key_id: str
    secret: str  # shown once


class MerchantService:
    """Creates merchants and what belongs to them; authenticates merchant API keys."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> None:
        self._sessions = sessions
        self._box = box

    async def create_merchant(self, name: str, require_operator: bool = False) -> NewMerchant:
        name = _require_text(name, "name", 128)
        merchant = Merchant(id=new_id("mch"), name=name, require_operator=require_operator)
        key = issue_api_key()
        async with self._sessions.begin() as session:
            session.add(merchant)
            await session.flush()
            session.add(ApiKey(merchant_id=merchant.id, prefix=key.prefix, secret_hash=key.secret_hash, label="first"))
        return NewMerchant(merchant.id, name, key.token)

    async def create_store(self, merchant_id: str, name: str) -> str:
        name = _require_text(name, "name", 128)
        async with self._sessions.begin() as session:
            await _merchant(session, merchant_id)
            store = Store(id=new_id("sto"), merchant_id=merchant_id, name=name)
            session.add(store)
        return store.id

    async def create_terminal(
        self,
        merchant_id: str,
        store_id: str,
        name: str,
        single_limit_fen: int | None = None,
        daily_limit_fen: int | None = None,
    ) -> NewTerminal:
        name = _require_text(name, "name", 128)
        key_id, secret = new_terminal_key()
        async with self._sessions.begin() as session:
            store = await session.get(Store, store_id)
            if store is None or store.merchant_id != merchant_id:
                raise NotFound(f"merchant {merchant_id} has no store {store_id}", code="store_not_found")
            terminal = Terminal(
                id=new_id("trm"),
                merchant_id=merchant_id,
                store_id=store_id,
                name=name,
                key_id=key_id,
                secret_encrypted=self._box.seal(secret),
                single_limit_fen=single_limit_fen,
                daily_limit_fen=daily_limit_fen,
            )
            session.add(terminal)
        return NewTerminal(terminal.id, merchant_id, store_id, key_id, secret)

    async def create_operator(self, merchant_id: str, number: str, name: str, password: str, role: str) -> str:
        if role not in OPERATOR_ROLES:
            raise InvalidInput(f"role must be one of {', '.join(OPERATOR_ROLES)}", code="invalid_role")
        if not number.isalnum() or len(number) > 16:
            raise InvalidInput("operator number is 1-16 letters or digits", code="invalid_operator_number")
        if len(password) < 6:
            raise InvalidInput("operator password needs at least 6 characters", code="weak_password")
        async with self._sessions.begin() as session:
            await _merchant(session, merchant_id)
            taken = await session.scalar(
                select(Operator.id).where(Operator.merchant_id == merchant_id, Operator.number == number)
            )
            if taken is not None:
                raise InvalidInput(f"operator number {number} is taken", code="operator_exists")
            operator = Operator(
                id=new_id("op"),
                merchant_id=merchant_id,
                number=number,
                name=_require_text(name, "name", 64),
                role=role,
                password_hash=hash_password(password),
            )
            session.add(operator)
        return operator.id

    async def authenticate_api_key(self, token: str) -> Merchant | None:
        """The merchant whose live API key this is, or None."""
        parts = split_api_key(token)
        if parts is None:
            return None
        prefix, secret = parts
        async with self._sessions() as session:
            key = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None)))
            if key is None or not secret_matches(secret, key.secret_hash):
                return None
            return await session.get(Merchant, key.merchant_id)


async def _merchant(session: AsyncSession, merchant_id: str) -> Merchant:
    merchant = await session.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFound(f"no merchant {merchant_id}", code="merchant_not_found")
    return merchant


def _require_text(value: str, field: str, max_length: int) -> str:
    value = value.strip()
    if not value or len(value) > max_length:
        raise InvalidInput(f"{field} must be 1-{max_length} characters", code=f"invalid_{field}")
    return value
