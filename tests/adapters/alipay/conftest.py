"""Fixtures for the Alipay channel: a simulator on a loopback uvicorn server, adapters, wallets, a notify receiver."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.alipay.client import AlipayAdapter, AlipayConfig
from adapters.alipay.signing import Rsa2Signer
from adapters.alipay.simulator import AlipaySimulator, adapter_config, create_simulator
from adapters.alipay.wire import FORM_CONTENT_TYPE, GATEWAY_PATH, encode_form, request_params
from adapters.protocol import MicropayRequest, Notification, NotificationInvalid, PrecreateRequest
from adapters.simcore.app import SimulatorSettings
from adapters.simcore.bank import BankSettings
from adapters.simcore.keys import public_pem
from tests.support.servers import serve_app

HANG_S = 0.8  # how long the simulator holds an "HTTP timeout" request
SHORT_TIMEOUT_S = 0.3  # an adapter timeout well below HANG_S


def order_no(prefix: str = "T") -> str:
    """A fresh merchant order number."""
    return prefix + uuid.uuid4().hex[:24]


def micropay_request(auth_code: str, amount_fen: int = 1_234, out_trade_no: str | None = None) -> MicropayRequest:
    return MicropayRequest(out_trade_no or order_no(), amount_fen, auth_code, "QR shop - 咖啡", terminal_id="T01")


def precreate_request(notify_url: str, amount_fen: int = 2_500, out_trade_no: str | None = None) -> PrecreateRequest:
    expires_at = datetime.now(UTC) + timedelta(minutes=15)
    return PrecreateRequest(out_trade_no or order_no("P"), amount_fen, "QR shop - 奶茶", notify_url, expires_at)


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One var/ for the session: key generation is the slow part and the keys do not change between tests."""
    return tmp_path_factory.mktemp("alipay-var")


@pytest.fixture(scope="session")
def stranger_key() -> tuple[str, str]:
    """(private PEM, public PEM) of a key pair nobody in the test knows: neither the app's nor Alipay's."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private.decode(), public_pem(key)


def make_simulator(var_dir: Path, time_scale: float = 0.01) -> AlipaySimulator:
    return create_simulator(var_dir, SimulatorSettings(bank=BankSettings(time_scale=time_scale), hang_s=HANG_S))


@contextlib.asynccontextmanager
async def served_simulator(var_dir: Path, time_scale: float) -> AsyncIterator[tuple[AlipaySimulator, str]]:
    """A simulator with its own time scale on its own loopback server (for notification ladders)."""
    simulator = make_simulator(var_dir, time_scale)
    async with serve_app(simulator.app) as url:
        yield simulator, url


@pytest.fixture
def simulator(var_dir: Path) -> AlipaySimulator:
    return make_simulator(var_dir)


@pytest.fixture
async def sim_url(simulator: AlipaySimulator) -> AsyncIterator[str]:
    async with serve_app(simulator.app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def config(var_dir: Path, sim_url: str) -> AlipayConfig:
    return adapter_config(var_dir, sim_url)


@pytest.fixture
def adapter(config: AlipayConfig, http: httpx.AsyncClient) -> AlipayAdapter:
    return AlipayAdapter(config, http)


@pytest.fixture
def impatient_adapter(config: AlipayConfig, http: httpx.AsyncClient) -> AlipayAdapter:
    """An adapter that gives up long before the simulator answers a held request."""
    return AlipayAdapter(dataclasses.replace(config, timeout_s=SHORT_TIMEOUT_S), http)


@dataclass
class Wallets:
    """The customer's phone and the test's view of the books, through the simulator's control API."""

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

    adapter: AlipayAdapter
    answers: list[bool] = field(default_factory=list)  # per delivery: acknowledge or not; then always yes
    received: list[Notification] = field(default_factory=list)
    rejected: int = 0
    url: str = ""

    async def endpoint(self, request: Request) -> Response:
        try:
            notification = self.adapter.parse_notification(await request.body(), request.headers.get("content-type"))
        except NotificationInvalid:
            self.rejected += 1
            ack = self.adapter.notification_ack(False)
        else:
            self.received.append(notification)
            ack = self.adapter.notification_ack(self.answers.pop(0) if self.answers else True)
        return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)

    async def wait(self, count: int) -> None:
        """Wait until `count` notifications were received (bounded, so a lost one fails the test)."""
        for _ in range(500):
            if len(self.received) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(self.received)} notifications arrived, expected {count}")


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait (bounded) for something a background task does, such as the notifier logging an attempt."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


@pytest.fixture
async def receiver(adapter: AlipayAdapter) -> AsyncIterator[NotifyReceiver]:
    notify = NotifyReceiver(adapter)
    app = Starlette(routes=[Route("/notify/alipay", notify.endpoint, methods=["POST"])])
    async with serve_app(app) as url:
        notify.url = f"{url}/notify/alipay"
        yield notify


def signed_params(config: AlipayConfig, method: str, biz: dict[str, Any], /, **overrides: str | None) -> dict[str, str]:
    """A hand-built gateway request, signed with the app key after `overrides` (so they are part of the sign)."""
    params = {**request_params(config.app_id, method, biz, None), **overrides}
    return Rsa2Signer(config.app_private_key).signed({k: v for k, v in params.items() if v is not None})


async def raw_call(http: httpx.AsyncClient, base_url: str, params: dict[str, str]) -> dict[str, Any]:
    """POST hand-built parameters to the gateway and return the parsed JSON answer."""
    response = await http.post(
        base_url + GATEWAY_PATH, content=encode_form(params), headers={"Content-Type": FORM_CONTENT_TYPE}
    )
    assert response.status_code == 200
    answer: dict[str, Any] = json.loads(response.text)
    return answer


@contextlib.asynccontextmanager
async def rewriting_proxy(
    target: str, rewrite: Callable[[bytes], bytes], http: httpx.AsyncClient
) -> AsyncIterator[str]:
    """A loopback server that forwards to `target` and rewrites each answer body on the way back."""

    async def forward(request: Request) -> Response:
        upstream = await http.post(
            f"{target}/{request.path_params['path']}",
            content=await request.body(),
            headers={"Content-Type": request.headers.get("content-type", "")},
        )
        return Response(rewrite(upstream.content), status_code=upstream.status_code, media_type="application/json")

    app = Starlette(routes=[Route("/{path:path}", forward, methods=["POST"])])
    async with serve_app(app) as url:
        yield url
