"""SIGKILL the gateway in the middle of slow payments: after a restart every order is final, none charged twice."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.simcore.faults import Fault
from gateway.client import TerminalClient
from gateway.services.payments import channel_order_no
from tests.support.processes import CHANNELS, GatewayProcess, gateway_process, simulators
from tests.support.processes import payment_code as _code

pytestmark = pytest.mark.slow

#: Faults that keep a payment PAYING for a while: the kill lands in the middle of them.
SLOW_FAULTS = (Fault.PASSWORD_THEN_SUCCESS, Fault.PASSWORD_TIMEOUT, Fault.PAY_DURING_REVERSE, Fault.SUCCESS)


async def _all_final(
    http: httpx.AsyncClient, gateway: GatewayProcess, api_key: str, expected: int
) -> list[dict[str, Any]]:
    for _ in range(1200):
        response = await http.get(f"{gateway.url}/v1/orders", params={"limit": 100}, headers={"X-API-Key": api_key})
        orders: list[dict[str, Any]] = response.json()["items"]
        if len(orders) >= expected and all(order["status"] not in ("CREATED", "PAYING") for order in orders):
            return orders
        await asyncio.sleep(0.1)
    raise AssertionError(f"orders still pending: {[(o['order_id'], o['status']) for o in orders]}")


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
                    await http.get(f"{sim}/_sim/ledger", params={"out_trade_no": channel_order_no(order["order_id"])})
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
