"""A live gateway for C-scan-B tests, and the customer's and terminal's side of a QR payment."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import select

from gateway.config import Settings
from gateway.persistence.database import Tx
from gateway.persistence.tables import OrderTransition, OutboxEvent, QrAttempt, Refund
from gateway.services.payments import channel_order_no
from tests.support.live import LiveGateway, live_gateway

CHANNELS = ["wechat", "alipay", "unionpay"]
#: What each wallet app's in-app browser sends (CHANNELS.md section 2).
USER_AGENTS = {
    "wechat": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 MicroMessenger/8.0.47",
    "alipay": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/120.0 Mobile AlipayClient/10.5.86",
    "unionpay": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Mobile UnionPay/1.0 CloudPay",
}
BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveGateway]:
    async with live_gateway(settings) as gateway:
        yield gateway


async def create_qr(live: LiveGateway, channel: str, amount_fen: int = 1234, **extra: Any) -> dict[str, Any]:
    body = {"amount_fen": amount_fen, "out_trade_no": new_out_trade_no(), "channel": channel, **extra}
    response = await live.terminal.request("POST", "/v1/payments/qr", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def new_out_trade_no() -> str:
    return "Q" + secrets.token_hex(8)


async def scan(live: LiveGateway, channel: str, code_url: str) -> int:
    """A new customer scans the channel's code in their wallet and pays; the HTTP status of the scan."""
    sim = f"{live.url}/sim/{channel}/_sim"
    customer = (await live.http.post(f"{sim}/customers", json={})).json()
    response = await live.http.post(f"{sim}/scan", json={"code_url": code_url, "customer_id": customer["customer_id"]})
    return response.status_code


async def eventually(check: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    """Poll `check` (sync or async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def payment(live: LiveGateway, order_id: str) -> dict[str, Any]:
    response = await live.terminal.request("GET", f"/v1/payments/{order_id}")
    assert response.status_code in (200, 202), response.text
    return dict(response.json())


async def wait_status(live: LiveGateway, order_id: str, status: str, timeout_s: float = 15.0) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        current = await payment(live, order_id)
        return current if current["status"] == status else None

    result: dict[str, Any] = await eventually(reached, timeout_s)
    return result


def _all(model: Any, *where: Any, order_by: Any = None) -> Callable[[Tx], list[Any]]:
    def read(tx: Tx) -> list[Any]:
        query = select(model).where(*where)
        return list(tx.session.scalars(query if order_by is None else query.order_by(order_by)).all())

    return read


async def events(live: LiveGateway, order_id: str) -> list[OutboxEvent]:
    return await live.runtime.db.transaction(
        _all(OutboxEvent, OutboxEvent.order_id == order_id, order_by=OutboxEvent.id)
    )


async def transitions(live: LiveGateway, order_id: str) -> list[OrderTransition]:
    return await live.runtime.db.transaction(
        _all(OrderTransition, OrderTransition.order_id == order_id, order_by=OrderTransition.id)
    )


async def refunds(live: LiveGateway, order_id: str) -> list[Refund]:
    return await live.runtime.db.transaction(_all(Refund, Refund.order_id == order_id))


async def attempts(live: LiveGateway, order_id: str) -> list[QrAttempt]:
    return await live.runtime.db.transaction(_all(QrAttempt, QrAttempt.order_id == order_id, order_by=QrAttempt.id))


async def wait_refunded(live: LiveGateway, order_id: str) -> Refund:
    async def done() -> Refund | None:
        found = await refunds(live, order_id)
        return found[0] if found and found[0].status == "SUCCEEDED" else None

    refund: Refund = await eventually(done)
    return refund


def ledger_kinds(live: LiveGateway, channel: str, order_id: str) -> list[tuple[str, int]]:
    number = channel_order_no(order_id)
    bank = live.runtime.simulators[channel].bank
    return [(entry.kind, entry.amount_fen) for entry in bank.ledger if entry.out_trade_no == number]


def acknowledged_notifications(live: LiveGateway, channel: str, order_id: str) -> list[bool]:
    number = channel_order_no(order_id)
    return [a.acknowledged for a in live.runtime.simulators[channel].notifier.attempts if a.reference == number]


async def paid_after_close(live: LiveGateway, channel: str, amount_fen: int) -> str:
    """A dynamic code the terminal cancelled but the channel could not close, then paid: a duplicate payment,
    refunded by the gateway itself."""
    created = await create_qr(live, channel, amount_fen)
    fault = {"operation": "close", "fault": "http_500", "times": 1000}
    assert (await live.http.post(f"{live.url}/sim/{channel}/_sim/faults", json=fault)).status_code == 201
    cancelled = await live.terminal.request("POST", f"/v1/payments/{created['order_id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CLOSED"
    assert await scan(live, channel, created["code_url"]) == 200
    return str(created["order_id"])
