"""Daily reports: a merchant's payments that arrived and refunds that succeeded between two instants, with the
store and terminal names they are reported under."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, select

from gateway.domain.refunds import RefundReason, RefundStatus
from gateway.domain.reports import DayPayment, DayRefund, ReportKey
from gateway.persistence.database import Tx
from gateway.persistence.settlements import PAYMENTS_TAKEN
from gateway.persistence.tables import Order, Refund, Store, Terminal, table_of

_orders = table_of(Order)
_refunds = table_of(Refund)
_stores = table_of(Store)
_terminals = table_of(Terminal)
_KEY = (
    _stores.c.id.label("store_id"),
    _stores.c.name.label("store_name"),
    _terminals.c.id.label("terminal_id"),
    _terminals.c.name.label("terminal_name"),
    _orders.c.channel,
)
_WHERE_ORDERS = (
    _orders.c.merchant_id == bindparam("merchant_id"),
    _stores.c.id == _orders.c.store_id,
    _terminals.c.id == _orders.c.terminal_id,
)
_PAYMENTS = select(*_KEY, _orders.c.amount_fen, _orders.c.fee_fen).where(
    *_WHERE_ORDERS,
    _orders.c.status.in_(PAYMENTS_TAKEN),
    _orders.c.paid_at >= bindparam("start"),
    _orders.c.paid_at < bindparam("end"),
)
_REFUNDS = select(*_KEY, _refunds.c.reason, _refunds.c.amount_fen, _refunds.c.fee_fen).where(
    *_WHERE_ORDERS,
    _refunds.c.order_id == _orders.c.id,
    _refunds.c.status == RefundStatus.SUCCEEDED,
    _refunds.c.reason.in_((RefundReason.REQUESTED, RefundReason.VOID)),
    _refunds.c.finished_at >= bindparam("start"),
    _refunds.c.finished_at < bindparam("end"),
)


def _key(row: Row[*tuple[Any, ...]]) -> ReportKey:
    return ReportKey(row.store_id, row.store_name, row.terminal_id, row.terminal_name, row.channel)


def day_payments(tx: Tx, merchant_id: str, start: datetime, end: datetime) -> list[DayPayment]:
    rows = tx.connection.execute(_PAYMENTS, {"merchant_id": merchant_id, "start": start, "end": end})
    return [DayPayment(_key(row), row.amount_fen, row.fee_fen or 0) for row in rows]


def day_refunds(tx: Tx, merchant_id: str, start: datetime, end: datetime) -> list[DayRefund]:
    rows = tx.connection.execute(_REFUNDS, {"merchant_id": merchant_id, "start": start, "end": end})
    return [DayRefund(_key(row), row.reason == RefundReason.VOID, row.amount_fen, row.fee_fen or 0) for row in rows]
