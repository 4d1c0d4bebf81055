"""Fixtures for the UnionPay tests: keys made once per run, a fresh simulator on a loopback server per test."""

from __future__ import annotations

import asyncio
import inspect
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.simcore.app import SimulatorSettings
from adapters.simcore.bank import BankSettings
from adapters.simcore.faults import Fault
from adapters.unionpay.client import UnionpayAdapter, UnionpayConfig
from adapters.unionpay.simulator import UnionpaySimulator, adapter_config, create_simulator
from tests.support.servers import serve_app

ADAPTER_TIMEOUT_S = 0.5
HANG_S = 1.5  # longer than the adapter waits, so an injected HTTP timeout is one


def order_no(prefix: str = "T") -> str:
    return prefix + secrets.token_hex(8)


async def eventually(check: Callable[[], bool | Awaitable[bool]], attempts: int = 300, pause_s: float = 0.01) -> None:
    """Poll `check()` (plain or async) until it is true, a bounded number of times."""
    for _ in range(attempts):
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        await asyncio.sleep(pause_s)
    raise AssertionError("condition never became true")


@dataclass
class SimControl:
    """The simulator's `/_sim/` control API, as the customer's phone and the test's eyes."""

    http: httpx.AsyncClient
    base_url: str

    async def customer(self, balance_fen: int | None = None) -> str:
        body = {} if balance_fen is None else {"balance_fen": balance_fen}
        response = await self.http.post(f"{self.base_url}/_sim/customers", json=body)
        assert response.status_code == 201
        return str(response.json()["customer_id"])

    async def code(self, customer_id: str, fault: Fault = Fault.SUCCESS) -> str:
        response = await self.http.post(
            f"{self.base_url}/_sim/customers/{customer_id}/codes", json={"fault": fault.value}
        )
        assert response.status_code == 201
        return str(response.json()["auth_code"])

    async def balance(self, customer_id: str) -> int:
        response = await self.http.get(f"{self.base_url}/_sim/customers/{customer_id}")
        return int(response.json()["balance_fen"])

    async def scan(self, code_url: str, customer_id: str) -> httpx.Response:
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
        assert response.status_code == 201


@dataclass
class NotifyReceiver:
    """A merchant's backUrl: records every notification and answers from a script, then `success`."""

    script: list[tuple[int, bytes]] = field(default_factory=list)
    received: list[tuple[bytes, str | None]] = field(default_factory=list)

    @property
    def app(self) -> Starlette:
        return Starlette(routes=[Route("/notify", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        self.received.append((await request.body(), request.headers.get("content-type")))
        status, body = self.script.pop(0) if self.script else (200, b"success")
        return Response(body, status_code=status, media_type="text/plain")


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("unionpay-var")


@pytest.fixture
def settings() -> SimulatorSettings:
    return SimulatorSettings(bank=BankSettings(time_scale=0.01), hang_s=HANG_S)


@pytest.fixture
def simulator(var_dir: Path, settings: SimulatorSettings) -> UnionpaySimulator:
    return create_simulator(var_dir, settings)


@pytest.fixture
async def sim_url(simulator: UnionpaySimulator) -> AsyncIterator[str]:
    async with serve_app(simulator.app) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture(scope="session")
def credentials(var_dir: Path) -> UnionpayConfig:
    """The merchant side of the keys, read once (loading RSA keys is slow enough to matter here)."""
    return adapter_config(var_dir, "")


@pytest.fixture
def config(credentials: UnionpayConfig, sim_url: str) -> UnionpayConfig:
    return replace(credentials, base_url=sim_url, timeout_s=ADAPTER_TIMEOUT_S)


@pytest.fixture
def adapter(config: UnionpayConfig, http: httpx.AsyncClient) -> UnionpayAdapter:
    return UnionpayAdapter(config, http)


@pytest.fixture
def control(http: httpx.AsyncClient, sim_url: str) -> SimControl:
    return SimControl(http, sim_url)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[NotifyReceiver, str]]:
    """A notify receiver on its own loopback server and its backUrl."""
    notify = NotifyReceiver()
    async with serve_app(notify.app) as url:
        yield notify, f"{url}/notify"
