"""Merchants and what belongs to them: API keys, stores, terminals and operators."""

from __future__ import annotations

from sqlalchemy import select

from gateway.domain.errors import NotFound
from gateway.persistence.database import Tx
from gateway.persistence.tables import ApiKey, Merchant, Operator, Store, Terminal


def add_merchant(tx: Tx, merchant: Merchant, first_key: ApiKey) -> None:
    tx.session.add(merchant)
    tx.session.flush()
    tx.session.add(first_key)


def get_merchant(tx: Tx, merchant_id: str) -> Merchant | None:
    return tx.session.get(Merchant, merchant_id)


def require_merchant(tx: Tx, merchant_id: str) -> Merchant:
    merchant = get_merchant(tx, merchant_id)
    if merchant is None:
        raise NotFound(f"no merchant {merchant_id}", code="merchant_not_found")
    return merchant


def add_store(tx: Tx, store: Store) -> None:
    require_merchant(tx, store.merchant_id)
    tx.session.add(store)


def get_store(tx: Tx, store_id: str) -> Store | None:
    return tx.session.get(Store, store_id)


def add_terminal(tx: Tx, terminal: Terminal) -> None:
    tx.session.add(terminal)


def operator_number_taken(tx: Tx, merchant_id: str, number: str) -> bool:
    taken = tx.session.scalar(select(Operator.id).where(Operator.merchant_id == merchant_id, Operator.number == number))
    return taken is not None


def add_operator(tx: Tx, operator: Operator) -> None:
    tx.session.add(operator)


def live_api_key(tx: Tx, prefix: str) -> tuple[ApiKey, Merchant] | None:
    """The unrevoked key with this prefix and its merchant."""
    row = tx.session.execute(
        select(ApiKey, Merchant)
        .join(Merchant, Merchant.id == ApiKey.merchant_id)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
    ).first()
    return None if row is None else (row[0], row[1])
