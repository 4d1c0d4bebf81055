"""Drive a channel simulator from tests: its `/_sim/` control API, a merchant notify receiver, polling helpers.

Shared by the WeChat, Alipay and UnionPay suites; nothing here knows a channel's wire format (the adapter does).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.protocol import ChannelAdapter, Notification, NotificationInvalid
from adapters.simcore.faults import Fault
from tests.support.servers import serve_app


def order_no(prefix: str = "T") -> str:
    """A fresh merchant order number (25 characters: within every channel's limit, WeChat's 32 the tightest)."""
    return prefix + uuid.uuid4().hex[:24]


async def eventually(check: Callable[[], bool | Awaitable[bool]], attempts: int = 500, pause_s: float = 0.01) -> None:
    """Poll `check()` (plain or async) until it is true, a bounded number of times, e.g. for a background task."""
    for _ in range(attempts):
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        await asyncio.sleep(pause_s)
    raise AssertionError("condition never became true")


@dataclass
class SimControl:
    """The simulator's `/_sim/` control API, as the customer's phone and the test's view of the books."""

    http: httpx.AsyncClient
    base_url: str

    async def customer(self, balance_fen: int | None = None) -> str:
        """A new customer, with the simulator's default balance unless given."""
        body = {} if balance_fen is None else {"balance_fen": balance_fen}
        response = await self.http.post(f"{self.base_url}/_sim/customers", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["customer_id"])

    async def code(self, fault: Fault | str = Fault.SUCCESS, customer_id: str | None = None) -> str:
        """A fresh payment code (of a new customer unless given) whose last two digits ask for `fault`."""
        customer_id = customer_id or await self.customer()
        response = await self.http.post(
            f"{self.base_url}/_sim/customers/{customer_id}/codes", json={"fault": Fault(fault).value}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["auth_code"])

    async def balance(self, customer_id: str) -> int:
        response = await self.http.get(f"{self.base_url}/_sim/customers/{customer_id}")
        return int(response.json()["balance_fen"])

    async def scan(self, code_url: str, customer_id: str | None = None) -> httpx.Response:
        """The customer (a new one unless given) scans a merchant's QR code and pays."""
        customer_id = customer_id or await self.customer()
        return await self.http.post(
            f"{self.base_url}/_sim/scan", json={"code_url": code_url, "customer_id": customer_id}
        )

    async def ledger(self, out_trade_no: str) -> list[tuple[str, int]]:
        """The bank's entries for one order, as (kind, amount_fen)."""
        response = await self.http.get(f"{self.base_url}/_sim/ledger", params={"out_trade_no": out_trade_no})
        return [(entry["kind"], entry["amount_fen"]) for entry in response.json()["entries"]]

    async def inject(self, operation: str, fault: str, times: int = 1) -> None:
        """Queue `fault` for the next `times` calls of `operation`."""
        response = await self.http.post(
            f"{self.base_url}/_sim/faults", json={"operation": operation, "fault": fault, "times": times}
        )
        assert response.status_code == 201, response.text


Answer = bool | tuple[int, bytes]  # acknowledge or not (the adapter's ack), or a raw (HTTP status, body)


@dataclass
class NotifyReceiver:
    """A merchant's notify_url: records each delivery, verifies it with the adapter and answers as told."""

    adapter: ChannelAdapter
    parse: Callable[[bytes, str | None], Notification] | None = None  # how to verify: the adapter's own unless set
    answers: list[Answer] = field(default_factory=list)  # one per verified delivery; then always the adapter's yes
    received: list[Notification] = field(default_factory=list)  # the deliveries that verified
    bodies: list[tuple[bytes, str | None]] = field(default_factory=list)  # every delivery: (body, content type)
    rejected: int = 0
    url: str = ""

    async def endpoint(self, request: Request) -> Response:
        body, content_type = await request.body(), request.headers.get("content-type")
        self.bodies.append((body, content_type))
        try:
            notification = (self.parse or self.adapter.parse_notification)(body, content_type)
        except NotificationInvalid:
            self.rejected += 1
            answer: Answer = False
        else:
            self.received.append(notification)
            answer = self.answers.pop(0) if self.answers else True
        if isinstance(answer, tuple):
            status, raw = answer
            return Response(raw, status_code=status, media_type="text/plain")
        ack = self.adapter.notification_ack(answer)
        return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)

    async def wait(self, count: int) -> None:
        """Wait until `count` notifications were received (bounded, so a lost one fails the test)."""
        try:
            await eventually(lambda: len(self.received) >= count)
        except AssertionError:
            raise AssertionError(f"{len(self.received)} notifications arrived, expected {count}") from None


@contextlib.asynccontextmanager
async def rewriting_proxy(
    target: str, rewrite: Callable[[bytes], bytes], http: httpx.AsyncClient, media_type: str
) -> AsyncIterator[str]:
    """A loopback server that forwards POSTs to `target` and rewrites each answer body on the way back."""

    async def forward(request: Request) -> Response:
        upstream = await http.post(
            f"{target}/{request.path_params['path']}",
            content=await request.body(),
            headers={"Content-Type": request.headers.get("content-type", "")},
        )
        return Response(rewrite(upstream.content), status_code=upstream.status_code, media_type=media_type)

    app = Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])])
    async with serve_app(app) as url:
        yield url
