"""A gateway in dev mode on a real loopback server, its in-process simulators reached over real HTTP."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from adapters.simcore.faults import Fault
from gateway.app import create_app
from gateway.client import TerminalClient
from gateway.config import Settings
from gateway.runtime import Runtime
from gateway.services.payments import channel_order_no
from tests.support.servers import free_port, serve_app

#: Test timings: every follow-up delay is 5 % of the real one (WeChat reverses after 1.5 s instead of 30 s).
TIME_SCALE = 0.05
#: How long the gateway waits for a channel's answer, and how long a simulator "hangs" to outlast that.
CHANNEL_TIMEOUT_S = 1.0
HANG_S = 2.0


@dataclass
class LiveGateway:
    url: str
    runtime: Runtime
    credentials: dict[str, Any]
    terminal: TerminalClient
    http: httpx.AsyncClient

    async def payment_code(self, channel: str, fault: Fault = Fault.SUCCESS, balance_fen: int | None = None) -> str:
        """A fresh code from a new customer of the channel's simulated wallet."""
        sim = f"{self.url}/sim/{channel}/_sim"
        body = {} if balance_fen is None else {"balance_fen": balance_fen}
        customer = (await self.http.post(f"{sim}/customers", json=body)).json()
        issued = await self.http.post(f"{sim}/customers/{customer['customer_id']}/codes", json={"fault": fault.value})
        return str(issued.json()["auth_code"])

    async def ledger(self, channel: str, order_id: str) -> list[dict[str, Any]]:
        """What the channel's books say moved for one of our orders."""
        response = await self.http.get(
            f"{self.url}/sim/{channel}/_sim/ledger", params={"out_trade_no": channel_order_no(order_id)}
        )
        entries: list[dict[str, Any]] = response.json()["entries"]
        return entries


@contextlib.asynccontextmanager
async def live_gateway(settings: Settings, **overrides: Any) -> AsyncIterator[LiveGateway]:
    port = free_port()
    live_settings = settings.model_copy(
        update={
            "dev_mode": True,
            "host": "127.0.0.1",
            "port": port,
            "time_scale": TIME_SCALE,
            # Well above the few hundred ms a full collection of the test process can pause the event loop for,
            # so that only a simulated hang (HANG_S) times a channel call out.
            "channel_timeout_s": CHANNEL_TIMEOUT_S,
            "micropay_wait_s": 3.0,
            **overrides,
        }
    )
    app = create_app(live_settings)
    runtime: Runtime = app.state.runtime
    for simulator in runtime.simulators.values():
        simulator.settings.bank.time_scale = TIME_SCALE
        simulator.settings.hang_s = HANG_S
    async with serve_app(app, port=port) as url, httpx.AsyncClient(timeout=10) as http:
        credentials = json.loads((live_settings.var_dir / "demo-credentials.json").read_text())
        terminal = TerminalClient(url, credentials["terminal_key_id"], credentials["terminal_secret"], http)
        yield LiveGateway(url, runtime, credentials, terminal, http)
