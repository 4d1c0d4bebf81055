"""Looking orders up for merchants: filtered lists with cursor pagination, and one order with its history."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.errors import InvalidInput, NotFound
from gateway.persistence import order_queries as repo
from gateway.persistence.database import Database
from gateway.persistence.order_queries import OrderFilter
from gateway.persistence.tables import Order, Refund

__all__ = ["OrderFilter", "OrderPage", "OrderQueries", "decode_cursor", "encode_cursor"]


@dataclass(frozen=True)
class OrderPage:
    items: list[Order]
    next_cursor: str | None


class OrderQueries:
    """Read-only order lookups, always scoped to one merchant."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_orders(self, merchant_id: str, filters: OrderFilter, limit: int, cursor: str | None) -> OrderPage:
        """Newest first; the cursor continues after the last order of the previous page."""
        after = None if cursor is None else decode_cursor(cursor)
        # One more than asked for: whether it comes back says if there is a next page.
        rows = await self._db.transaction(repo.merchant_orders, merchant_id, filters, limit + 1, after)
        items = rows[:limit]
        next_cursor = encode_cursor(items[-1]) if len(rows) > limit else None
        return OrderPage(items, next_cursor)

    async def get_order(self, merchant_id: str, order_id: str) -> Order:
        """One order with its transitions; another merchant's order does not exist for this one."""
        order = await self._db.transaction(repo.merchant_order_with_transitions, merchant_id, order_id)
        if order is None:
            raise NotFound(f"no order {order_id}", code="order_not_found")
        return order

    async def find_for_terminal(self, terminal_id: str, order_id: str) -> Order | None:
        return await self._db.transaction(repo.terminal_order, terminal_id, order_id)


def encode_cursor(item: Order | Refund) -> str:
    """A page's cursor: where the list continues after `item` (orders and refunds are listed the same way)."""
    raw = f"{item.created_at.isoformat()}|{item.id}".encode()
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
