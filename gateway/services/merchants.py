"""Merchants, their API keys, stores, terminals and operators: creation, authentication, listing, disabling and
key rotation of merchants.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError

from gateway.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from gateway.domain.ids import new_id
from gateway.persistence import merchants as repo
from gateway.persistence.database import Database, Tx
from gateway.persistence.tables import ApiKey, Merchant, Operator, Store, Terminal
from gateway.services.credentials import (
    API_KEY_PREFIX,
    RotatedKey,
    SecretBox,
    check_revocation,
    check_rotation,
    hash_password,
    issue_api_key,
    key_id,
    new_terminal_key,
    secret_matches,
    split_api_key,
)
from gateway.services.operators import OPERATOR_ROLES, check_new_password


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


@dataclass(frozen=True)
class MerchantSummary:
    """A merchant as listed: no secret, only the ids of its live API keys (two during a rotation)."""

    merchant_id: str
    name: str
    require_operator: bool
    created_at: datetime
    disabled_at: datetime | None
    key_ids: list[str]


class MerchantService:
    """Creates merchants and what belongs to them; authenticates merchant API keys."""

    def __init__(self, db: Database, box: SecretBox) -> None:
        self._db = db
        self._box = box

    async def create_merchant(self, name: str, require_operator: bool = False) -> NewMerchant:
        name = _require_text(name, "name", 128)
        merchant = Merchant(id=new_id("mch"), name=name, require_operator=require_operator)
        key = issue_api_key()
        first_key = ApiKey(merchant_id=merchant.id, prefix=key.prefix, secret_hash=key.secret_hash, label="first")
        await self._db.transaction(repo.add_merchant, merchant, first_key)
        return NewMerchant(merchant.id, name, key.token)

    async def create_store(self, merchant_id: str, name: str) -> str:
        name = _require_text(name, "name", 128)
        store = Store(id=new_id("sto"), merchant_id=merchant_id, name=name)
        await self._db.transaction(repo.add_store, store)
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

        def add(tx: Tx) -> None:
            store = repo.get_store(tx, store_id)
            if store is None or store.merchant_id != merchant_id:
                raise NotFound(f"merchant {merchant_id} has no store {store_id}", code="store_not_found")
            repo.add_terminal(tx, terminal)

        await self._db.transaction(add)
        return NewTerminal(terminal.id, merchant_id, store_id, key_id, secret)

    async def create_operator(self, merchant_id: str, number: str, name: str, password: str, role: str) -> str:
        """A cashier or supervisor of the merchant; 409 `operator_exists` if the number is taken."""
        if role not in OPERATOR_ROLES:
            raise InvalidInput(f"role must be one of {', '.join(OPERATOR_ROLES)}", code="invalid_role")
        if not number.isalnum() or len(number) > 16:
            raise InvalidInput("operator number is 1-16 letters or digits", code="invalid_operator_number")
        check_new_password(password)
        operator = Operator(
            id=new_id("op"),
            merchant_id=merchant_id,
            number=number,
            name=_require_text(name, "name", 64),
            role=role,
            password_hash=await asyncio.to_thread(hash_password, password),
        )

        def refuse_taken(tx: Tx) -> None:
            if repo.operator_number_taken(tx, merchant_id, number):
                raise Conflict(f"operator number {number} is taken", code="operator_exists")

        def add(tx: Tx) -> None:
            repo.require_merchant(tx, merchant_id)
            refuse_taken(tx)
            repo.add_operator(tx, operator)

        try:
            await self._db.transaction(add)
        except IntegrityError:
            await self._db.transaction(refuse_taken)  # a concurrent request took the number after our check
            raise
        return operator.id

    async def authenticate_api_key(self, token: str) -> Merchant | None:
        """The merchant whose live API key this is, or None; a disabled merchant's key is refused (403)."""
        parts = split_api_key(token)
        if parts is None:
            return None
        prefix, secret = parts
        found = await self._db.transaction(repo.live_api_key, prefix)
        if found is None or not secret_matches(secret, found[0].secret_hash):
            return None
        merchant = found[1]
        if merchant.disabled_at is not None:
            raise Forbidden(f"merchant {merchant.id} is disabled", code="merchant_disabled")
        return merchant

    async def list_merchants(self) -> list[MerchantSummary]:
        rows = await self._db.transaction(repo.list_merchants)
        return [
            MerchantSummary(
                m.id,
                m.name,
                m.require_operator,
                m.created_at,
                m.disabled_at,
                [key_id(API_KEY_PREFIX, prefix) for prefix in prefixes],
            )
            for m, prefixes in rows
        ]

    async def set_disabled(self, merchant_id: str, disabled: bool) -> datetime | None:
        """Disable the merchant (its API key, terminals and cameras are refused) or enable it again."""
        disabled_at = datetime.now(UTC) if disabled else None
        if not await self._db.transaction(repo.set_merchant_disabled, merchant_id, disabled_at):
            raise NotFound(f"no merchant {merchant_id}", code="merchant_not_found")
        return disabled_at

    async def rotate_key(self, merchant_id: str) -> RotatedKey:
        """Issue the merchant a new API key; the current one keeps working until `revoke_key`."""
        key = issue_api_key()

        def rotate(tx: Tx) -> str:
            live = _live_key_ids(tx, merchant_id)
            check_rotation(f"merchant {merchant_id}", live)
            repo.add_api_key(
                tx, ApiKey(merchant_id=merchant_id, prefix=key.prefix, secret_hash=key.secret_hash, label="rotated")
            )
            return live[0]

        previous = await self._db.transaction(rotate)
        return RotatedKey(merchant_id, key_id(API_KEY_PREFIX, key.prefix), key.token, previous)

    async def revoke_key(self, merchant_id: str, revoked_key_id: str) -> None:
        """Revoke one of the merchant's two live API keys (`mk_<prefix>`); its last one stays."""

        def revoke(tx: Tx) -> None:
            live = _live_key_ids(tx, merchant_id)
            check_revocation(f"merchant {merchant_id}", live, revoked_key_id)
            prefix = revoked_key_id.removeprefix(f"{API_KEY_PREFIX}_")
            repo.revoke_api_key(tx, merchant_id, prefix, datetime.now(UTC))

        await self._db.transaction(revoke)

    async def exists(self, merchant_id: str) -> bool:
        return await self._db.transaction(repo.get_merchant, merchant_id) is not None


def _live_key_ids(tx: Tx, merchant_id: str) -> list[str]:
    return [key_id(API_KEY_PREFIX, prefix) for prefix in repo.live_key_prefixes(tx, merchant_id)]


def _require_text(value: str, field: str, max_length: int) -> str:
    value = value.strip()
    if not value or len(value) > max_length:
        raise InvalidInput(f"{field} must be 1-{max_length} characters", code=f"invalid_{field}")
    return value
