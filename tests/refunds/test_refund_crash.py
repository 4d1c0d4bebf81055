"""SIGKILL the gateway while refunds are processing (and some are being sent): restarted, it finishes every one of
them, and the channels' books hold each refund once."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.client import TerminalClient
from gateway.services.payments import channel_order_no
from tests.support.processes import CHANNELS, GatewayProcess, gateway_process, payment_code, simulators

pytestmark = pytest.mark.slow

#: Refund amounts (their last two digits pick the simulator's behaviour): 24 finishes only after refund queries,
#: 22 is recorded but answered with a system error (sent again under the same number), 00 finishes after a delay.
AMOUNTS = (124, 222, 300)


async def _refunds_of(http: httpx.AsyncClient, gateway: GatewayProcess, api_key: str, order_id: str) -> dict[str, Any]:
    response = await http.get(f"{gateway.url}/v1/orders/{order_id}/refunds", headers={"X-API-Key": api_key})
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_sigkill_with_refunds_processing_finishes_them_once(tmp_path: Path, database_url: str) -> None:
    var_dir = tmp_path / "var"
    with simulators(var_dir) as sim_urls:
        async with httpx.AsyncClient(timeout=15) as http, gateway_process(tmp_path, database_url, sim_urls) as gateway:
            await gateway.start(http)
            credentials = json.loads((var_dir / "demo-credentials.json").read_text())
            api_key = credentials["api_key"]
            terminal = TerminalClient(gateway.url, credentials["terminal_key_id"], credentials["terminal_secret"], http)

            async def paid(channel: str) -> str:
                code = await payment_code(http, sim_urls[channel])
                response = await terminal.micropay(1000, "K" + secrets.token_hex(6), code)
                for _ in range(200):
                    if response.json()["status"] == "PAID":
                        return str(response.json()["order_id"])
                    await asyncio.sleep(0.05)
                    response = await terminal.get_payment(response.json()["order_id"])
                raise AssertionError(response.text)

            orders = {channel: await paid(channel) for channel in CHANNELS}
            for channel, order_id in orders.items():
                for amount in AMOUNTS:
                    body = {"order_id": order_id, "amount_fen": amount, "out_refund_no": f"K-{channel}-{amount}"}
                    response = await terminal.request("POST", "/v1/refunds", body)
                    assert response.status_code in (200, 202), response.text
            # More refunds on their way to the channels as the gateway dies.
            in_flight = [
                asyncio.create_task(
                    terminal.request(
                        "POST",
                        "/v1/refunds",
                        {"order_id": order_id, "amount_fen": 100, "out_refund_no": f"F-{channel}"},
                    )
                )
                for channel, order_id in orders.items()
            ]
            await asyncio.sleep(0.02)
            before = {
                channel: await _refunds_of(http, gateway, api_key, order_id) for channel, order_id in orders.items()
            }
            assert any(item["status"] == "PROCESSING" for found in before.values() for item in found["items"])
            gateway.kill()
            await asyncio.gather(*in_flight, return_exceptions=True)

            await gateway.start(http)
            for channel, order_id in orders.items():
                for _ in range(1200):
                    found = await _refunds_of(http, gateway, api_key, order_id)
                    if all(item["status"] != "PROCESSING" for item in found["items"]):
                        break
                    await asyncio.sleep(0.1)
                else:
                    raise AssertionError(f"{channel}: refunds still processing: {found['items']}")
                assert len(found["items"]) in (len(AMOUNTS), len(AMOUNTS) + 1)  # the one in flight, if it was written
                assert {item["status"] for item in found["items"]} == {"SUCCEEDED"}, found["items"]
                ledger = await http.get(
                    f"{sim_urls[channel]}/_sim/ledger", params={"out_trade_no": channel_order_no(order_id)}
                )
                refunded = sorted(e["amount_fen"] for e in ledger.json()["entries"] if e["kind"] == "refund")
                assert refunded == sorted(item["amount_fen"] for item in found["items"]), channel
                assert found["refunded_fen"] == sum(refunded)
                assert found["status"] == "PARTIALLY_REFUNDED"
