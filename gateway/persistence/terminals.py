"""Terminals as callers: looking a signing key up, spending nonces, and the operator signed in; listing them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Row, bindparam, case, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.persistence.database import Tx
from gateway.persistence.prebuilt import Prebuilt
from gateway.persistence.rotating_keys import KeyColumns, set_disabled
from gateway.persistence.tables import Merchant, Terminal, TerminalNonce, table_of

_terminals = table_of(Terminal)
_nonces = table_of(TerminalNonce)
_merchants = table_of(Merchant)
#: A terminal's key and, during a rotation, the one it replaced: both sign until that one is revoked.
KEYS = KeyColumns(_terminals, "key_id", "secret_encrypted", "previous_key_id", "previous_secret_encrypted")
#: What a request's TerminalContext is made of: the terminal's ids, limits and operator, its merchant's rules.
_CONTEXT = (
    _terminals.c.id,
    _terminals.c.merchant_id,
    _terminals.c.store_id,
    _terminals.c.operator_id,
    _terminals.c.single_limit_fen,
    _terminals.c.daily_limit_fen,
    _merchants.c.require_operator,
)
_WITH_MERCHANT = (_merchants, _merchants.c.id == _terminals.c.merchant_id)
_KEY_ID: BindParameter[str] = bindparam("key_id")
_BY_KEY = Prebuilt(
    select(
        *_CONTEXT,
        case(
            (_terminals.c.key_id == _KEY_ID, _terminals.c.secret_encrypted),
            else_=_terminals.c.previous_secret_encrypted,
        ).label("secret_encrypted"),
        _terminals.c.disabled_at,
        _merchants.c.disabled_at.label("merchant_disabled_at"),
    )
    .join(*_WITH_MERCHANT)
    .where(or_(_terminals.c.key_id == _KEY_ID, _terminals.c.previous_key_id == _KEY_ID))
)
_BY_ID = select(*_CONTEXT).join(*_WITH_MERCHANT).where(_terminals.c.id == bindparam("terminal_id"))
_SPEND_NONCE = {
    name: Prebuilt(
        insert(_nonces)
        .values(key_id=bindparam("key_id"), nonce=bindparam("nonce"), seen_at=bindparam("seen_at"))
        .on_conflict_do_nothing(index_elements=[_nonces.c.key_id, _nonces.c.nonce])
    )
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def terminal_by_key(tx: Tx, key_id: str) -> Row[*tuple[Any, ...]] | None:
    """The terminal signing with `key_id` (its current key or the one a rotation replaced): its ids, limits,
    operator and merchant's rules, the sealed secret of that key, and when it and its merchant were disabled.
    """
    return _BY_KEY.first(tx, {"key_id": key_id})


def terminal_context_row(tx: Tx, terminal_id: str) -> Row[*tuple[Any, ...]]:
    """The context columns of `terminal_by_key`, for a terminal known by id (a camera's)."""
    return tx.connection.execute(_BY_ID, {"terminal_id": terminal_id}).one()


def spend_nonce(tx: Tx, key_id: str, nonce: str, seen_at: datetime) -> bool:
    """Record the nonce; False if this key used it already."""
    params = {"key_id": key_id, "nonce": nonce, "seen_at": seen_at}
    return _SPEND_NONCE[tx.dialect].rowcount(tx, params) == 1


def forget_nonces_before(tx: Tx, cutoff: datetime) -> int:
    return int(tx.connection.execute(delete(_nonces).where(_nonces.c.seen_at < cutoff)).rowcount or 0)


def set_operator(tx: Tx, terminal_id: str, operator_id: str | None, signed_in_at: datetime | None) -> None:
    tx.connection.execute(
        update(_terminals)
        .where(_terminals.c.id == terminal_id)
        .values(operator_id=operator_id, operator_signed_in_at=signed_in_at)
    )


def list_terminals(tx: Tx, merchant_id: str | None) -> list[Row[*tuple[Any, ...]]]:
    """Every terminal (of one merchant), oldest first: ids, name, limits, times and key ids; no secrets."""
    t = _terminals.c
    query = select(
        t.id,
        t.merchant_id,
        t.store_id,
        t.name,
        t.single_limit_fen,
        t.daily_limit_fen,
        t.created_at,
        t.disabled_at,
        t.key_id,
        t.previous_key_id,
    ).order_by(t.created_at, t.id)
    if merchant_id is not None:
        query = query.where(t.merchant_id == merchant_id)
    return list(tx.connection.execute(query).all())


def set_terminal_disabled(tx: Tx, terminal_id: str, disabled_at: datetime | None) -> bool:
    """Disable (a time) or enable (None) the terminal; False if there is none."""
    return set_disabled(tx, _terminals, terminal_id, disabled_at)
