"""SIGKILL the gateway in the middle of slow payments: after a restart every order is final, none charged twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.simcore.faults import Fault
from gateway.client import TerminalClient
from gateway.services.payments import channel_order_no
from tests.support.servers import free_port

pytestmark = pytest.mark.slow

CHANNELS = ("wechat", "alipay", "unionpay")
#: Faults that keep a payment PAYING for a while: the kill lands in the middle of them.
SLOW_FAULTS = (Fault.PASSWORD_THEN_SUCCESS, Fault.PASSWORD_TIMEOUT, Fault.PAY_DURING_REVERSE, Fault.SUCCESS)


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


@contextlib.contextmanager
def simulators(var_dir: Path) -> Iterator[dict[str, str]]:
    """The three channel simulators as their own processes: they outlive the gateway's crash."""
    ports = {channel: free_port() for channel in CHANNELS}
    processes = [
        subprocess.Popen(
            _python(
                "-m",
                "adapters.simulators",
                channel,
                "--port",
                str(port),
                "--var-dir",
                str(var_dir),
                "--time-scale",
                "0.5",
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for channel, port in ports.items()
    ]
    try:
        yield {channel: f"http://127.0.0.1:{port}" for channel, port in ports.items()}
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


class GatewayProcess:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, http: httpx.AsyncClient) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(_python("-m", "gateway"), env=self.env, stdout=log, stderr=log)
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{self.url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the gateway did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@contextlib.asynccontextmanager
async def gateway_process(tmp_path: Path, database_url: str, sim_urls: dict[str, str]) -> AsyncIterator[GatewayProcess]:
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_DEV_MODE": "true",
        "GATEWAY_VAR_DIR": str(tmp_path / "var"),
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_AUTO_MIGRATE": "true",
        "GATEWAY_PORT": str(port),
        "GATEWAY_CHANNEL_BASE_URLS": json.dumps(sim_urls),
        "GATEWAY_TIME_SCALE": "0.1",
        "GATEWAY_MICROPAY_WAIT_S": "0",
        "GATEWAY_CHANNEL_TIMEOUT_S": "2",
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    gateway = GatewayProcess(env, port, tmp_path / "gateway.log")
    try:
        yield gateway
    finally:
        gateway.stop()


async def _code(http: httpx.AsyncClient, sim_url: str, fault: Fault) -> str:
    customer = (await http.post(f"{sim_url}/_sim/customers", json={})).json()
    issued = await http.post(f"{sim_url}/_sim/customers/{customer['customer_id']}/codes", json={"fault": fault.value})
    return str(issued.json()["auth_code"])


async def _all_final(
    http: httpx.AsyncClient, gateway: GatewayProcess, api_key: str, expected: int
) -> list[dict[str, Any]]:
    for _ in range(1200):
        response = await http.get(f"{gateway.url}/v1/orders", params={"limit": 100}, headers={"X-API-Key": api_key})
        orders: list[dict[str, Any]] = response.json()["items"]
        if len(orders) >= expected and all(order["status"] not in ("CREATED", "PAYING") for order in orders):
            return orders
        await asyncio.sleep(0.1)
    raise AssertionError(f"orders still pending: {[(o['id'], o['status']) for o in orders]}")


async def test_sigkill_during_slow_payments_loses_nothing_and_charges_once(tmp_path: Path, database_url: str) -> None:
    var_dir = tmp_path / "var"
    with simulators(var_dir) as sim_urls:
        async with httpx.AsyncClient(timeout=15) as http, gateway_process(tmp_path, database_url, sim_urls) as gateway:
            await gateway.start(http)
            credentials = json.loads((var_dir / "demo-credentials.json").read_text())
            terminal = TerminalClient(gateway.url, credentials["terminal_key_id"], credentials["terminal_secret"], http)
            payments: list[tuple[str, Fault, int]] = []
            for index, (channel, fault) in enumerate((c, f) for c in CHANNELS for f in SLOW_FAULTS):
                amount = 1000 + index
                code = await _code(http, sim_urls[channel], fault)
                response = await terminal.micropay(amount, "K" + secrets.token_hex(6), code)
                assert response.status_code in (200, 202), response.text
                payments.append((channel, fault, amount))
            in_flight = [
                asyncio.create_task(
                    terminal.micropay(
                        2000 + i,
                        "F" + secrets.token_hex(6),
                        await _code(http, sim_urls[channel], Fault.PASSWORD_TIMEOUT),
                    )
                )
                for i, channel in enumerate(CHANNELS)
            ]
            await asyncio.sleep(0.05)
            gateway.kill()
            await asyncio.gather(*in_flight, return_exceptions=True)

            await gateway.start(http)
            orders = await _all_final(http, gateway, credentials["api_key"], len(payments))

            for order in orders:
                sim = sim_urls[order["channel"]]
                ledger = (
                    await http.get(f"{sim}/_sim/ledger", params={"out_trade_no": channel_order_no(order["id"])})
                ).json()
                entries = ledger["entries"]
                charged = sum(e["amount_fen"] for e in entries if e["kind"] == "charge")
                returned = sum(e["amount_fen"] for e in entries if e["kind"] != "charge")
                assert sum(1 for e in entries if e["kind"] == "charge") <= 1, order
                if order["status"] == "PAID":
                    assert (charged, returned) == (order["amount_fen"], 0), order
                else:
                    assert order["status"] in ("REVERSED", "FAILED"), order
                    assert charged == returned, f"money kept for an order that is {order['status']}: {entries}"
            by_fault = {(o["channel"], o["amount_fen"]): o["status"] for o in orders}
            for channel, fault, amount in payments:
                expected = "PAID" if fault in (Fault.SUCCESS, Fault.PASSWORD_THEN_SUCCESS) else "REVERSED"
                assert by_fault[(channel, amount)] == expected, (channel, fault)
