"""Looking orders up for merchants: filtered lists with cursor pagination, and one order with its history."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from gateway.domain.channels import Channel
from gateway.domain.errors import InvalidInput, NotFound
from gateway.domain.orders import OrderStatus
from gateway.persistence.tables import Order


@dataclass(frozen=True)
class OrderFilter:
    """What a merchant may filter the order list by; None means any."""

    status: OrderStatus | None = None
    channel: Channel | None = None
    terminal_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    out_trade_no: str | None = None


@dataclass(frozen=True)
class OrderPage:
    items: list[Order]
    next_cursor: str | None


class OrderQueries:
    """Read-only order lookups, always scoped to one merchant."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def list_orders(self, merchant_id: str, filters: OrderFilter, limit: int, cursor: str | None) -> OrderPage:
        """Newest first; the cursor continues after the last order of the previous page."""
        query = _filtered(select(Order).where(Order.merchant_id == merchant_id), filters)
        if cursor is not None:
            created_at, order_id = decode_cursor(cursor)
            query = query.where(
                or_(Order.created_at < created_at, and_(Order.created_at == created_at, Order.id < order_id))
            )
        query = query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit + 1)
        async with self._sessions() as session:
            rows = list((await session.scalars(query)).all())
        items = rows[:limit]
        next_cursor = encode_cursor(items[-1]) if len(rows) > limit else None
        return OrderPage(items, next_cursor)

    async def get_order(self, merchant_id: str, order_id: str) -> Order:
        """One order with its transitions; another merchant's order does not exist for this one."""
        async with self._sessions() as session:
            order = await session.scalar(
                select(Order)
                .where(Order.id == order_id, Order.merchant_id == merchant_id)
                .options(selectinload(Order.transitions))
            )
        if order is None:
            raise NotFound(f"no order {order_id}", code="order_not_found")
        return order

    async def find_for_terminal(self, terminal_id: str, order_id: str) -> Order | None:
        async with self._sessions() as session:
            return await session.scalar(select(Order).where(Order.id == order_id, Order.terminal_id == terminal_id))


def _filtered(query: Select[Order], filters: OrderFilter) -> Select[Order]:
    if filters.status is not None:
        query = query.where(Order.status == filters.status)
    if filters.channel is not None:
        query = query.where(Order.channel == filters.channel)
    if filters.terminal_id is not None:
        query = query.where(Order.terminal_id == filters.terminal_id)
    if filters.created_from is not None:
        query = query.where(Order.created_at >= filters.created_from)
    if filters.created_to is not None:
        query = query.where(Order.created_at < filters.created_to)
    if filters.out_trade_no is not None:
        query = query.where(Order.out_trade_no == filters.out_trade_no)
    return query


def encode_cursor(order: Order) -> str:
    raw = f"{order.created_at.isoformat()}|{order.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """(created_at, id) from a cursor made by `encode_cursor`; anything else is an invalid cursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, order_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(stamp)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("the cursor is not one this API gave out", code="invalid_cursor") from exc
    if created_at.tzinfo is None or not order_id:
        raise InvalidInput("the cursor is not one this API gave out", code="invalid_cursor")
    return created_at, order_id
