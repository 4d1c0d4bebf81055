"""Merchants and what belongs to them: API keys, stores, terminals and operators."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from gateway.domain.errors import NotFound
from gateway.persistence import rotating_keys
from gateway.persistence.database import Tx
from gateway.persistence.tables import ApiKey, Merchant, Operator, Store, Terminal, table_of

_api_keys = table_of(ApiKey)
_merchants = table_of(Merchant)


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


def live_key_prefixes(tx: Tx, merchant_id: str) -> list[str]:
    """The prefixes of the merchant's unrevoked API keys, oldest first, with the merchant's row locked until the
    transaction ends (so two rotations of one merchant cannot both see one key); NotFound if there is none.
    """
    if tx.session.get(Merchant, merchant_id, with_for_update=True) is None:
        raise NotFound(f"no merchant {merchant_id}", code="merchant_not_found")
    return list(
        tx.session.scalars(
            select(ApiKey.prefix)
            .where(ApiKey.merchant_id == merchant_id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.id)
        )
    )


def add_api_key(tx: Tx, key: ApiKey) -> None:
    tx.session.add(key)


def revoke_api_key(tx: Tx, merchant_id: str, prefix: str, revoked_at: datetime) -> bool:
    """Revoke the merchant's live key with this prefix; False if it has none."""
    revoked = tx.connection.execute(
        update(_api_keys)
        .where(_api_keys.c.merchant_id == merchant_id, _api_keys.c.prefix == prefix, _api_keys.c.revoked_at.is_(None))
        .values(revoked_at=revoked_at)
    )
    return revoked.rowcount == 1


def list_merchants(tx: Tx) -> list[tuple[Merchant, list[str]]]:
    """Every merchant, oldest first, with the prefixes of its live API keys (oldest first)."""
    merchants = list(tx.session.scalars(select(Merchant).order_by(Merchant.created_at, Merchant.id)))
    prefixes: dict[str, list[str]] = {merchant.id: [] for merchant in merchants}
    live = select(ApiKey.merchant_id, ApiKey.prefix).where(ApiKey.revoked_at.is_(None)).order_by(ApiKey.id)
    for merchant_id, prefix in tx.connection.execute(live):
        prefixes.setdefault(merchant_id, []).append(prefix)
    return [(merchant, prefixes[merchant.id]) for merchant in merchants]


def set_merchant_disabled(tx: Tx, merchant_id: str, disabled_at: datetime | None) -> bool:
    """Disable (a time) or enable (None) the merchant; False if there is none."""
    return rotating_keys.set_disabled(tx, _merchants, merchant_id, disabled_at)
