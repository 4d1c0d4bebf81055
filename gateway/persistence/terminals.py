"""Terminals as callers: looking a signing key up, spending nonces, and the operator signed in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.persistence.database import Tx
from gateway.persistence.prebuilt import Prebuilt
from gateway.persistence.tables import Merchant, Operator, Terminal, TerminalNonce, table_of

_terminals = table_of(Terminal)
_nonces = table_of(TerminalNonce)
#: What a request's TerminalContext is made of: the terminal's ids, limits and operator, its merchant's rules.
_CONTEXT = select(
    _terminals.c.id,
    _terminals.c.merchant_id,
    _terminals.c.store_id,
    _terminals.c.operator_id,
    _terminals.c.single_limit_fen,
    _terminals.c.daily_limit_fen,
    _terminals.c.secret_encrypted,
    Merchant.require_operator,
).join(Merchant, Merchant.id == _terminals.c.merchant_id)
_BY_KEY = Prebuilt(_CONTEXT.where(_terminals.c.key_id == bindparam("key_id"), _terminals.c.disabled_at.is_(None)))
_BY_ID = _CONTEXT.where(_terminals.c.id == bindparam("terminal_id"))
_SPEND_NONCE = {
    name: Prebuilt(
        insert(_nonces)
        .values(key_id=bindparam("key_id"), nonce=bindparam("nonce"), seen_at=bindparam("seen_at"))
        .on_conflict_do_nothing(index_elements=[_nonces.c.key_id, _nonces.c.nonce])
    )
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def live_terminal_by_key(tx: Tx, key_id: str) -> Row[Any] | None:
    """The enabled terminal signing with `key_id`: its ids, limits, operator, sealed secret and merchant's rules."""
    return _BY_KEY.first(tx, {"key_id": key_id})


def terminal_context_row(tx: Tx, terminal_id: str) -> Row[Any]:
    """The same row as `live_terminal_by_key`, for a terminal known by id (a camera's)."""
    return tx.connection.execute(_BY_ID, {"terminal_id": terminal_id}).one()


def spend_nonce(tx: Tx, key_id: str, nonce: str, seen_at: datetime) -> bool:
    """Record the nonce; False if this key used it already."""
    params = {"key_id": key_id, "nonce": nonce, "seen_at": seen_at}
    return _SPEND_NONCE[tx.dialect].rowcount(tx, params) == 1


def forget_nonces_before(tx: Tx, cutoff: datetime) -> int:
    return int(tx.connection.execute(delete(_nonces).where(_nonces.c.seen_at < cutoff)).rowcount or 0)


def operator_by_number(tx: Tx, merchant_id: str, number: str) -> Operator | None:
    return tx.session.scalar(select(Operator).where(Operator.merchant_id == merchant_id, Operator.number == number))


def set_operator(tx: Tx, terminal_id: str, operator_id: str | None, signed_in_at: datetime | None) -> None:
    tx.connection.execute(
        update(_terminals)
        .where(_terminals.c.id == terminal_id)
        .values(operator_id=operator_id, operator_signed_in_at=signed_in_at)
    )
