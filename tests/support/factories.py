"""Test data: merchants with a store and terminal, and orders written straight to the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.domain.ids import new_id
from gateway.domain.orders import OrderKind, OrderStatus
from gateway.persistence.tables import Order, OrderTransition
from gateway.runtime import Runtime


@dataclass(frozen=True)
class MerchantFixture:
    merchant_id: str
    api_key: str
    store_id: str
    terminal_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}


async def make_merchant(runtime: Runtime, name: str = "Shop") -> MerchantFixture:
    merchant = await runtime.merchants.create_merchant(name)
    store_id = await runtime.merchants.create_store(merchant.merchant_id, f"{name} store")
    terminal = await runtime.merchants.create_terminal(merchant.merchant_id, store_id, f"{name} till")
    return MerchantFixture(merchant.merchant_id, merchant.api_key, store_id, terminal.terminal_id)


async def insert_order(runtime: Runtime, merchant: MerchantFixture, **fields: Any) -> Order:
    """An order with a CREATED -> status history; `created_at` defaults to now."""
    created_at = fields.pop("created_at", datetime.now(UTC))
    status = fields.pop("status", OrderStatus.PAID)
    order = Order(
        id=new_id("ord"),
        merchant_id=merchant.merchant_id,
        store_id=merchant.store_id,
        terminal_id=fields.pop("terminal_id", merchant.terminal_id),
        out_trade_no=fields.pop("out_trade_no", new_id("T").replace("_", "")[:32]),
        kind=fields.pop("kind", OrderKind.MICROPAY),
        channel=fields.pop("channel", "wechat"),
        amount_fen=fields.pop("amount_fen", 100),
        refunded_fen=0,
        status=status,
        created_at=created_at,
        updated_at=created_at,
        **fields,
    )
    order.transitions = [
        OrderTransition(from_status=None, to_status=OrderStatus.CREATED, cause="test", actor="test", at=created_at),
        OrderTransition(
            from_status=OrderStatus.CREATED,
            to_status=status,
            cause="test",
            actor="test",
            at=created_at + timedelta(seconds=1),
            detail={"note": "inserted by a test"},
        ),
    ]
    await runtime.db.transaction(lambda tx: tx.session.add(order))
    return order
