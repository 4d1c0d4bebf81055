"""Merchants' order lookups: filtered lists in keyset pages, one order with its audit trail, a terminal's order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, or_, select
from sqlalchemy.orm import selectinload

from gateway.domain.channels import Channel
from gateway.domain.orders import OrderStatus
from gateway.persistence.database import Tx
from gateway.persistence.orders import order_from_row
from gateway.persistence.tables import Order, table_of

_orders = table_of(Order)
#: Built once: terminals poll their orders with it.
_TERMINAL_ORDER = select(_orders).where(
    _orders.c.id == bindparam("order_id"), _orders.c.terminal_id == bindparam("terminal_id")
)


@dataclass(frozen=True)
class OrderFilter:
    """What a merchant may filter the order list by; None means any."""

    status: OrderStatus | None = None
    channel: Channel | None = None
    terminal_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    out_trade_no: str | None = None
    reference_no: str | None = None
    voucher_no: str | None = None
    batch_no: str | None = None


def merchant_orders(
    tx: Tx, merchant_id: str, filters: OrderFilter, limit: int, after: tuple[datetime, str] | None
) -> list[Order]:
    """Up to `limit` of the merchant's orders, newest first, continuing after (created_at, id) `after`."""
    query = _filtered(select(_orders).where(_orders.c.merchant_id == merchant_id), filters)
    if after is not None:
        created_at, order_id = after
        query = query.where(
            or_(_orders.c.created_at < created_at, and_(_orders.c.created_at == created_at, _orders.c.id < order_id))
        )
    query = query.order_by(_orders.c.created_at.desc(), _orders.c.id.desc()).limit(limit)
    return [order_from_row(row) for row in tx.connection.execute(query)]


def merchant_order_with_transitions(tx: Tx, merchant_id: str, order_id: str) -> Order | None:
    """The merchant's order with its audit trail loaded (another merchant's order is None)."""
    return tx.session.scalar(
        select(Order)
        .where(Order.id == order_id, Order.merchant_id == merchant_id)
        .options(selectinload(Order.transitions))
    )


def terminal_order(tx: Tx, terminal_id: str, order_id: str) -> Order | None:
    row = tx.connection.execute(_TERMINAL_ORDER, {"order_id": order_id, "terminal_id": terminal_id}).first()
    return None if row is None else order_from_row(row)


def _filtered(query: Select[Any], filters: OrderFilter) -> Select[Any]:
    if filters.status is not None:
        query = query.where(_orders.c.status == filters.status)
    if filters.channel is not None:
        query = query.where(_orders.c.channel == filters.channel)
    if filters.terminal_id is not None:
        query = query.where(_orders.c.terminal_id == filters.terminal_id)
    if filters.created_from is not None:
        query = query.where(_orders.c.created_at >= filters.created_from)
    if filters.created_to is not None:
        query = query.where(_orders.c.created_at < filters.created_to)
    if filters.out_trade_no is not None:
        query = query.where(_orders.c.out_trade_no == filters.out_trade_no)
    for name in ("reference_no", "voucher_no", "batch_no"):
        if (number := getattr(filters, name)) is not None:
            query = query.where(_orders.c[name] == number)
    return query
