"""A terminal's side of the event websocket for tests: ticket, connect, resume, read messages; and writing events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gateway.client import TerminalClient
from gateway.persistence.tables import Order
from gateway.runtime import Runtime
from gateway.services.transitions import order_event_payload, write_event
from tests.support.factories import MerchantFixture, insert_order
from tests.support.live import LiveGateway

RECEIVE_TIMEOUT_S = 10.0


class EventSocket:
    """An open event websocket; `hello` is the gateway's greeting."""

    def __init__(self, connection: ClientConnection, hello: dict[str, Any]) -> None:
        self.connection = connection
        self.hello = hello

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(message))

    async def receive(self, timeout_s: float = RECEIVE_TIMEOUT_S) -> dict[str, Any]:
        """The next message other than a heartbeat ping."""
        while True:
            async with asyncio.timeout(timeout_s):
                message: dict[str, Any] = json.loads(await self.connection.recv())
            if message["type"] != "ping":
                return message

    async def events(self, count: int) -> list[dict[str, Any]]:
        return [await self.receive() for _ in range(count)]

    async def closed(self, timeout_s: float = RECEIVE_TIMEOUT_S) -> tuple[int | None, str | None]:
        """Read (and drop) messages until the gateway closes; its close code and reason."""
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(timeout_s):
                while True:
                    await self.connection.recv()
        return self.connection.close_code, self.connection.close_reason


def websocket_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://", 1) + path


async def ticket_path(terminal: TerminalClient) -> str:
    response = await terminal.events_ticket()
    assert response.status_code == 201, response.text
    return str(response.json()["websocket_path"])


@contextlib.asynccontextmanager
async def raw_socket(base_url: str, path: str) -> AsyncIterator[ClientConnection]:
    async with connect(websocket_url(base_url, path), open_timeout=10, close_timeout=2) as connection:
        yield connection


@contextlib.asynccontextmanager
async def event_socket(base_url: str, terminal: TerminalClient, after: int | None = None) -> AsyncIterator[EventSocket]:
    """Ticket, connect, read the hello and resume after `after` (None: after the gateway's saved ack)."""
    async with raw_socket(base_url, await ticket_path(terminal)) as connection:
        hello = json.loads(await connection.recv())
        assert hello["type"] == "hello", hello
        await connection.send(json.dumps({"type": "resume"} if after is None else {"type": "resume", "after": after}))
        yield EventSocket(connection, hello)


async def emit(runtime: Runtime, *orders: Order, event_type: str = "order.paid") -> None:
    """Outbox events for `orders`, all written in one transaction (as a payment flow would)."""
    await runtime.db.transaction(lambda tx: [write_event(tx, o, event_type, order_event_payload(o)) for o in orders])


def demo_merchant(live: LiveGateway) -> MerchantFixture:
    credentials = live.credentials
    return MerchantFixture(
        credentials["merchant_id"], credentials["api_key"], credentials["store_id"], credentials["terminal_id"]
    )


async def emit_new(live: LiveGateway, count: int, merchant: MerchantFixture | None = None) -> list[Order]:
    """`count` new paid orders of the merchant's terminal (the demo one by default), their events in one commit."""
    merchant = merchant or demo_merchant(live)
    orders = [await insert_order(live.runtime, merchant) for _ in range(count)]
    await emit(live.runtime, *orders)
    return orders
