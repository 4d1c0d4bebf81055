"""Two gateway processes on one PostgreSQL: a terminal on instance A receives a payment made through instance B."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from gateway.client import TerminalClient
from tests.conftest import POSTGRES_ADMIN_URL
from tests.support.events import event_socket
from tests.support.processes import gateway_process, payment_code, simulators

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="GATEWAY_TEST_POSTGRES_URL is not set"),
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
]


async def test_a_terminal_on_instance_a_receives_a_payment_made_through_instance_b(
    tmp_path: Path, database_url: str
) -> None:
    with simulators(tmp_path / "var") as sim_urls:
        async with (
            httpx.AsyncClient(timeout=15) as http,
            gateway_process(tmp_path, database_url, sim_urls, name="a", GATEWAY_MICROPAY_WAIT_S="3") as gateway_a,
            gateway_process(tmp_path, database_url, sim_urls, name="b", GATEWAY_MICROPAY_WAIT_S="3") as gateway_b,
        ):
            await gateway_a.start(http)  # migrates and seeds the demo merchant ...
            await gateway_b.start(http)  # ... which B finds in the shared var dir and database
            credentials = json.loads((tmp_path / "var" / "demo-credentials.json").read_text())
            key_id, secret = credentials["terminal_key_id"], credentials["terminal_secret"]
            on_a = TerminalClient(gateway_a.url, key_id, secret, http)
            on_b = TerminalClient(gateway_b.url, key_id, secret, http)

            async with event_socket(gateway_a.url, on_a, after=0) as socket:
                paid = await on_b.micropay(1888, "SCALE1", await payment_code(http, sim_urls["wechat"]))
                assert paid.status_code == 200, paid.text
                event = await socket.receive()
                assert (event["seq"], event["event"], event["order_id"]) == (1, "order.paid", paid.json()["order_id"])
                assert event["data"]["amount_fen"] == 1888

                second = await on_b.micropay(42, "SCALE2", await payment_code(http, sim_urls["alipay"]))
                assert second.status_code == 200, second.text
                assert (await socket.receive())["order_id"] == second.json()["order_id"]

            # The same stream from either instance, also by polling; and a ticket from B opens A's websocket.
            polled = (await on_b.poll_events(credentials["terminal_id"], after=0)).json()
            assert [item["seq"] for item in polled["items"]] == [1, 2]
            async with event_socket(gateway_a.url, on_b, after=1) as socket:
                assert (await socket.receive())["order_id"] == second.json()["order_id"]
