"""Fixtures for the WeChat channel: a simulator on a loopback uvicorn server, an adapter, wallets, a notify receiver."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.protocol import MicropayRequest, Notification, NotificationInvalid
from adapters.simcore.app import SimulatorSettings
from adapters.simcore.bank import BankSettings
from adapters.wechat.client import WechatAdapter, WechatConfig
from adapters.wechat.simulator import WechatSimulator, adapter_config, create_simulator
from tests.support.servers import serve_app

HANG_S = 0.8  # how long the simulator holds an "HTTP timeout" request
SHORT_TIMEOUT_S = 0.3  # an adapter timeout well below HANG_S


def order_no(prefix: str = "T") -> str:
    """A fresh merchant order number (WeChat allows 32 characters)."""
    return prefix + uuid.uuid4().hex[:24]


def micropay_request(auth_code: str, amount_fen: int = 1_234, out_trade_no: str | None = None) -> MicropayRequest:
    return MicropayRequest(out_trade_no or order_no(), amount_fen, auth_code, "QR shop - coffee", terminal_id="T01")


@pytest.fixture
def simulator(tmp_path: Path) -> WechatSimulator:
    settings = SimulatorSettings(bank=BankSettings(time_scale=0.01), hang_s=HANG_S)
    return create_simulator(tmp_path, settings)


@pytest.fixture
async def sim_url(simulator: WechatSimulator) -> AsyncIterator[str]:
    async with serve_app(simulator.app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def config(tmp_path: Path, sim_url: str) -> WechatConfig:
    return adapter_config(tmp_path, sim_url)


@pytest.fixture
def adapter(config: WechatConfig, http: httpx.AsyncClient) -> WechatAdapter:
    return WechatAdapter(config, http)


@pytest.fixture
def impatient_adapter(config: WechatConfig, http: httpx.AsyncClient) -> WechatAdapter:
    """An adapter that gives up long before the simulator answers a held request."""
    return WechatAdapter(dataclasses.replace(config, timeout_s=SHORT_TIMEOUT_S), http)


@dataclass
class Wallets:
    """The customer's phone, through the simulator's control API."""

    http: httpx.AsyncClient
    base_url: str

    async def customer(self, balance_fen: int = 1_000_000) -> str:
        response = await self.http.post(f"{self.base_url}/_sim/customers", json={"balance_fen": balance_fen})
        response.raise_for_status()
        return str(response.json()["customer_id"])

    async def code(self, fault: str = "00", customer_id: str | None = None) -> str:
        """A fresh payment code whose last two digits ask for `fault`."""
        customer_id = customer_id or await self.customer()
        response = await self.http.post(f"{self.base_url}/_sim/customers/{customer_id}/codes", json={"fault": fault})
        response.raise_for_status()
        return str(response.json()["auth_code"])

    async def balance(self, customer_id: str) -> int:
        response = await self.http.get(f"{self.base_url}/_sim/customers/{customer_id}")
        return int(response.json()["balance_fen"])

    async def scan(self, code_url: str, customer_id: str | None = None) -> httpx.Response:
        customer_id = customer_id or await self.customer()
        return await self.http.post(
            f"{self.base_url}/_sim/scan", json={"code_url": code_url, "customer_id": customer_id}
        )

    async def ledger(self, out_trade_no: str) -> list[tuple[str, int]]:
        response = await self.http.get(f"{self.base_url}/_sim/ledger", params={"out_trade_no": out_trade_no})
        return [(entry["kind"], entry["amount_fen"]) for entry in response.json()["entries"]]

    async def inject(self, operation: str, fault: str, times: int = 1) -> None:
        response = await self.http.post(
            f"{self.base_url}/_sim/faults", json={"operation": operation, "fault": fault, "times": times}
        )
        response.raise_for_status()


@pytest.fixture
def wallets(http: httpx.AsyncClient, sim_url: str) -> Wallets:
    return Wallets(http, sim_url)


@dataclass
class NotifyReceiver:
    """A merchant's notify_url: verifies each notification with the adapter and answers as told."""

    parse: Callable[[bytes, str | None], Notification]
    answers: list[bool] = field(default_factory=list)  # per delivery: acknowledge or not; then always yes
    received: list[Notification] = field(default_factory=list)
    rejected: int = 0
    url: str = ""

    async def endpoint(self, request: Request, adapter: WechatAdapter) -> Response:
        try:
            notification = self.parse(await request.body(), request.headers.get("content-type"))
        except NotificationInvalid:
            self.rejected += 1
            ack = adapter.notification_ack(False)
        else:
            self.received.append(notification)
            ack = adapter.notification_ack(self.answers.pop(0) if self.answers else True)
        return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)

    async def wait(self, count: int) -> None:
        """Wait until `count` notifications were received (bounded, so a lost one fails the test)."""
        for _ in range(300):
            if len(self.received) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(self.received)} notifications arrived, expected {count}")


@pytest.fixture
async def receiver(adapter: WechatAdapter) -> AsyncIterator[NotifyReceiver]:
    notify = NotifyReceiver(adapter.parse_notification)

    async def endpoint(request: Request) -> Response:
        return await notify.endpoint(request, adapter)

    app = Starlette(routes=[Route("/notify/wechat", endpoint, methods=["POST"])])
    async with serve_app(app) as url:
        notify.url = f"{url}/notify/wechat"
        yield notify


@contextlib.asynccontextmanager
async def tampering_proxy(
    target: str, rewrite: Callable[[bytes], bytes], http: httpx.AsyncClient
) -> AsyncIterator[str]:
    """A loopback server that forwards to `target` and rewrites each answer body on the way back."""

    async def forward(request: Request) -> Response:
        upstream = await http.post(
            f"{target}/{request.path_params['path']}",
            content=await request.body(),
            headers={"Content-Type": request.headers.get("content-type", "")},
        )
        return Response(rewrite(upstream.content), status_code=upstream.status_code, media_type="text/xml")

    app = Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])])
    async with serve_app(app) as url:
        yield url
