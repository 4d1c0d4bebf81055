"""Receipts: how many times each slip of a transaction was printed, and the names a slip shows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import Executable

from gateway.persistence.database import Tx
from gateway.persistence.tables import Merchant, Operator, ReceiptPrint, Store, table_of

_prints = table_of(ReceiptPrint)


def _count_print(insert: Callable[..., Any]) -> Executable:
    """One statement: the first print inserts 1, every later one adds 1; it returns the count, so concurrent
    prints of one slip each get their own number."""
    statement = insert(_prints).values(
        transaction_id=bindparam("transaction_id"), slip=bindparam("slip"), prints=1, last_printed_at=bindparam("at")
    )
    counted: Executable = statement.on_conflict_do_update(
        index_elements=[_prints.c.transaction_id, _prints.c.slip],
        set_={"prints": _prints.c.prints + 1, "last_printed_at": statement.excluded.last_printed_at},
    ).returning(_prints.c.prints)
    return counted


_COUNT_PRINT = {"postgresql": _count_print(pg_insert), "sqlite": _count_print(sqlite_insert)}
_NAMES = (
    select(Merchant.name, Store.name)
    .select_from(Merchant)
    .join(Store, Store.merchant_id == Merchant.id)
    .where(Merchant.id == bindparam("merchant_id"), Store.id == bindparam("store_id"))
)
_OPERATOR_NUMBER = select(Operator.number).where(Operator.id == bindparam("operator_id"))


def count_print(tx: Tx, transaction_id: str, slip: str, now: datetime) -> int:
    """Record one print of the slip; how many times it has been printed now (1: the first, not a reprint)."""
    params = {"transaction_id": transaction_id, "slip": slip, "at": now}
    return int(tx.connection.execute(_COUNT_PRINT[tx.dialect], params).scalar_one())


def shop_names(tx: Tx, merchant_id: str, store_id: str) -> tuple[str, str]:
    """The merchant's name and the store's."""
    merchant_name, store_name = tx.connection.execute(_NAMES, {"merchant_id": merchant_id, "store_id": store_id}).one()
    return str(merchant_name), str(store_name)


def operator_number(tx: Tx, operator_id: str | None) -> str | None:
    return None if operator_id is None else tx.connection.scalar(_OPERATOR_NUMBER, {"operator_id": operator_id})
