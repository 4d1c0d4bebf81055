"""A live gateway for refund tests, and how they pay, refund and wait for refunds to finish."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.config import Settings
from tests.support.live import LiveGateway, live_gateway

CHANNELS = ("wechat", "alipay", "unionpay")


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveGateway]:
    async with live_gateway(settings) as gateway:
        yield gateway


def merchant_headers(live: LiveGateway) -> dict[str, str]:
    return {"X-API-Key": live.credentials["api_key"]}


def refund_no(prefix: str = "R") -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


async def pay(live: LiveGateway, channel: str, amount_fen: int) -> str:
    """A PAID micropay of the demo terminal; its order id."""
    code = await live.payment_code(channel)
    response = await live.terminal.micropay(amount_fen, "P" + secrets.token_hex(8), code)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "PAID", response.text
    return str(response.json()["order_id"])


async def merchant_refund(
    live: LiveGateway, order_id: str, amount_fen: int, number: str | None = None, **more: Any
) -> httpx.Response:
    body = {"amount_fen": amount_fen, "out_refund_no": number or refund_no(), **more}
    return await live.http.post(f"{live.url}/v1/orders/{order_id}/refunds", json=body, headers=merchant_headers(live))


async def terminal_refund(
    live: LiveGateway, order_id: str, amount_fen: int, number: str | None = None, **more: Any
) -> httpx.Response:
    body = {"order_id": order_id, "amount_fen": amount_fen, "out_refund_no": number or refund_no(), **more}
    return await live.terminal.request("POST", "/v1/refunds", body)


async def order_refunds(live: LiveGateway, order_id: str) -> dict[str, Any]:
    response = await live.http.get(f"{live.url}/v1/orders/{order_id}/refunds", headers=merchant_headers(live))
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def settled(live: LiveGateway, order_id: str, deadline_s: float = 30.0) -> dict[str, Any]:
    """The order's refunds once none is PROCESSING (polled until a deadline)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        found = await order_refunds(live, order_id)
        if all(item["status"] != "PROCESSING" for item in found["items"]):
            return found
        if loop.time() > end:
            raise AssertionError(f"refunds still processing: {[(i['refund_id'], i['status']) for i in found['items']]}")
        await asyncio.sleep(0.05)


async def refunded_at_channel(live: LiveGateway, channel: str, order_id: str) -> list[int]:
    """The refund entries the channel's books hold for the order, in fen."""
    return [entry["amount_fen"] for entry in await live.ledger(channel, order_id) if entry["kind"] == "refund"]
