"""Batches, voucher and reference numbers: the counters on terminal and merchant rows, taken by atomic UPDATEs.

Each number is taken by an UPDATE ... RETURNING in the caller's transaction (the one that writes the order or
refund), so the row lock (PostgreSQL) or the write lock (SQLite, BEGIN IMMEDIATE) keeps concurrent transactions
from sharing one, and a rolled-back transaction gives its numbers back. The terminal row is taken before the
merchant row, in every transaction, so two never wait on each other crosswise.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, case, func, select, update

from gateway.persistence.database import Tx
from gateway.persistence.orders import order_from_row
from gateway.persistence.prebuilt import Prebuilt
from gateway.persistence.tables import Merchant, Order, Refund, Terminal, table_of

_terminals = table_of(Terminal)
_orders = table_of(Order)
_merchants = table_of(Merchant)
#: Voucher and batch numbers have six digits: after 999999 comes 000001 again.
LAST_NUMBER = 999_999
FIRST_BATCH = 1

#: The next voucher number; a terminal with no batch yet (never signed in) opens batch 000001 here.
_NEXT_VOUCHER = Prebuilt(
    update(_terminals)
    .where(_terminals.c.id == bindparam("terminal_id"))
    .values(
        voucher_seq=case((_terminals.c.voucher_seq >= LAST_NUMBER, 1), else_=_terminals.c.voucher_seq + 1),
        batch_no=func.coalesce(_terminals.c.batch_no, FIRST_BATCH),
    )
    .returning(_terminals.c.batch_no, _terminals.c.voucher_seq)
)
_NEXT_REFERENCE = Prebuilt(
    update(_merchants)
    .where(_merchants.c.id == bindparam("merchant_id"))
    .values(reference_seq=_merchants.c.reference_seq + 1)
    .returning(_merchants.c.reference_seq)
)
#: A terminal's numbered orders, newest (highest reference number: they are taken in order) first.
_NUMBERED_ORDERS = (
    select(_orders)
    .where(_orders.c.terminal_id == bindparam("terminal_id"), _orders.c.reference_no.is_not(None))
    .order_by(_orders.c.reference_no.desc())
    .limit(1)
)
_refunds = table_of(Refund)
#: A terminal's numbered refunds and voids, newest first.
_NUMBERED_REFUNDS = (
    select(_refunds)
    .where(_refunds.c.terminal_id == bindparam("terminal_id"), _refunds.c.reference_no.is_not(None))
    .order_by(_refunds.c.reference_no.desc())
    .limit(1)
)
_OPEN_FIRST = update(_terminals).where(_terminals.c.id == bindparam("terminal_id"), _terminals.c.batch_no.is_(None))


def six_digits(number: int) -> str:
    return f"{number:06d}"


def number_transaction(tx: Tx, record: Order | Refund) -> None:
    """Give a terminal's new order or refund, before it is inserted, the next voucher number of its terminal (in
    the open batch, opened now if there is none) and the next 12-digit reference number of its merchant.
    """
    assert record.terminal_id is not None, "only a terminal's transactions are numbered"
    batch, voucher = _NEXT_VOUCHER.one(tx, {"terminal_id": record.terminal_id})
    reference = _NEXT_REFERENCE.scalar(tx, {"merchant_id": record.merchant_id})
    record.batch_no, record.voucher_no = six_digits(batch), six_digits(voucher)
    record.reference_no = f"{reference:012d}"


def open_first_batch(tx: Tx, terminal_id: str) -> None:
    """Batch 000001 for a terminal that has none yet (its first sign-in); a no-op for one that has."""
    tx.connection.execute(_OPEN_FIRST.values(batch_no=FIRST_BATCH), {"terminal_id": terminal_id})


def open_batch_no(tx: Tx, terminal_id: str) -> str | None:
    """The terminal's open batch, six digits; None before its first sign-in or transaction."""
    batch = tx.connection.execute(
        _terminals.select().with_only_columns(_terminals.c.batch_no).where(_terminals.c.id == terminal_id)
    ).scalar_one()
    return None if batch is None else six_digits(batch)


def close_batch(tx: Tx, terminal_id: str) -> str:
    """After a settlement: the terminal's next batch (000001 after 999999); voucher numbers run on. Its number."""
    batch_no = _terminals.c.batch_no
    batch = tx.connection.execute(
        update(_terminals)
        .where(_terminals.c.id == terminal_id)
        .values(batch_no=case((batch_no >= LAST_NUMBER, 1), else_=func.coalesce(batch_no, 0) + 1))
        .returning(batch_no)
    ).scalar_one()
    return six_digits(batch)


def last_order(tx: Tx, terminal_id: str) -> Order | None:
    """The terminal's most recent numbered payment."""
    return _first_order(tx, _NUMBERED_ORDERS, terminal_id)


def last_refund(tx: Tx, terminal_id: str) -> Refund | None:
    """The terminal's most recent numbered refund or void (compare its reference number with `last_order`'s)."""
    row = tx.connection.execute(_NUMBERED_REFUNDS, {"terminal_id": terminal_id}).first()
    return None if row is None else Refund(**row._mapping)


def order_by_voucher(tx: Tx, terminal_id: str, voucher_no: str) -> Order | None:
    """The terminal's payment with this voucher number in its open batch (the latest, should the numbers wrap)."""
    batch_no = open_batch_no(tx, terminal_id)
    query = _NUMBERED_ORDERS.where(_orders.c.batch_no == batch_no, _orders.c.voucher_no == voucher_no)
    return None if batch_no is None else _first_order(tx, query, terminal_id)


def order_by_reference(tx: Tx, terminal_id: str, reference_no: str) -> Order | None:
    """The terminal's payment with this reference number (another terminal's is None)."""
    return _first_order(tx, _NUMBERED_ORDERS.where(_orders.c.reference_no == reference_no), terminal_id)


def _first_order(tx: Tx, query: Any, terminal_id: str) -> Order | None:
    row = tx.connection.execute(query, {"terminal_id": terminal_id}).first()
    return None if row is None else order_from_row(row)
