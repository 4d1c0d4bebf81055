"""Terminal queries: the last transaction, one by voucher or reference number, asked of the channel when not final."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters.simcore.faults import Fault
from gateway.client import TerminalClient
from gateway.config import Settings
from gateway.persistence import batches
from tests.support.live import LiveGateway, live_gateway
from tests.support.simcontrol import eventually

LAST = "/v1/terminal/transactions/last"


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveGateway]:
    # No wait for a PAYING micropay, and the follow-up job's first query a few seconds away: only the terminal's
    # query can finish a payment in the first seconds.
    async with live_gateway(settings, micropay_wait_s=0.0, channel_timeout_s=3.0) as gateway:
        yield gateway


async def _pay(live: LiveGateway, fault: Fault = Fault.SUCCESS) -> httpx.Response:
    code = await live.payment_code("alipay", fault)
    return await live.terminal.micropay(100, "T" + secrets.token_hex(8), code)


def _problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def _find(client: TerminalClient, **params: str) -> httpx.Response:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return await client.request("GET", f"/v1/terminal/transactions?{query}")


async def test_last_and_by_voucher_or_reference_number(live: LiveGateway) -> None:
    _problem(await live.terminal.request("GET", LAST), 404, "transaction_not_found")
    first, second = (await _pay(live)).json(), (await _pay(live)).json()
    assert (first["status"], second["status"]) == ("PAID", "PAID")

    last = await live.terminal.request("GET", LAST)
    assert last.status_code == 200 and last.json() == second
    by_voucher = await _find(live.terminal, voucher_no=first["voucher_no"])
    assert by_voucher.status_code == 200 and by_voucher.json() == first
    by_reference = await _find(live.terminal, reference_no=second["reference_no"])
    assert by_reference.status_code == 200 and by_reference.json() == second

    _problem(await _find(live.terminal, voucher_no="000999"), 404, "transaction_not_found")
    _problem(await _find(live.terminal, reference_no="999999999999"), 404, "transaction_not_found")
    _problem(await live.terminal.request("GET", "/v1/terminal/transactions"), 422, "validation_error")
    both = await _find(live.terminal, voucher_no=first["voucher_no"], reference_no=first["reference_no"])
    _problem(both, 422, "validation_error")
    _problem(await _find(live.terminal, voucher_no="12"), 422, "validation_error")
    _problem(await _find(live.terminal, order_id=first["order_id"]), 422, "unknown_parameter")


async def test_voucher_numbers_are_looked_up_in_the_open_batch_only(live: LiveGateway) -> None:
    old = (await _pay(live)).json()
    closed = await live.runtime.db.transaction(batches.close_batch, live.credentials["terminal_id"])
    assert closed == "000002"
    _problem(await _find(live.terminal, voucher_no=old["voucher_no"]), 404, "transaction_not_found")
    by_reference = await _find(live.terminal, reference_no=old["reference_no"])  # any batch
    assert by_reference.status_code == 200 and by_reference.json()["order_id"] == old["order_id"]


async def test_another_terminals_numbers_are_not_found(live: LiveGateway) -> None:
    paid = (await _pay(live)).json()
    c = live.credentials
    other = await live.runtime.merchants.create_terminal(c["merchant_id"], c["store_id"], "Till 2")
    client = TerminalClient(live.url, other.key_id, other.secret, live.http)
    _problem(await client.request("GET", LAST), 404, "transaction_not_found")
    _problem(await _find(client, reference_no=paid["reference_no"]), 404, "transaction_not_found")
    _problem(await _find(client, voucher_no=paid["voucher_no"]), 404, "transaction_not_found")


async def test_a_paying_transaction_is_asked_of_the_channel_and_applied(live: LiveGateway) -> None:
    started = await _pay(live, Fault.PASSWORD_THEN_SUCCESS)
    assert started.status_code == 202 and started.json()["status"] == "PAYING"
    order_id = started.json()["order_id"]
    pending = await live.terminal.request("GET", LAST)
    assert pending.status_code in (200, 202) and pending.json()["order_id"] == order_id
    answers: list[dict[str, Any]] = [pending.json()]

    async def paid() -> bool:
        response = await _find(live.terminal, voucher_no=started.json()["voucher_no"])
        answers.append(response.json())
        return response.status_code == 200

    await eventually(paid, attempts=200, pause_s=0.02)
    assert answers[-1]["status"] == "PAID" and answers[-1]["channel_trade_no"]
    assert await _paid_by(live, order_id) == ["gateway:query:alipay"]  # the query applied it, not the job


async def test_a_code_awaiting_payment_is_asked_of_the_channel_and_applied(settings: Settings) -> None:
    # Real-time follow-ups: the sweep's first query is 5 s away, so only the terminal's query can see the payment.
    async with live_gateway(settings, time_scale=1.0) as live:
        body = {"amount_fen": 1211, "out_trade_no": "Q" + secrets.token_hex(8), "channel": "wechat"}
        created = await live.terminal.request("POST", "/v1/payments/qr", body)  # 11: no notification is ever sent
        assert created.status_code == 201 and created.json()["status"] == "AWAITING_PAYMENT", created.text
        sim = f"{live.url}/sim/wechat/_sim"
        customer = (await live.http.post(f"{sim}/customers", json={})).json()
        scan = {"code_url": created.json()["code_url"], "customer_id": customer["customer_id"]}
        assert (await live.http.post(f"{sim}/scan", json=scan)).status_code == 200

        found = await _find(live.terminal, reference_no=created.json()["reference_no"])
        assert found.status_code == 200 and found.json()["status"] == "PAID", found.text
        assert await _paid_by(live, created.json()["order_id"]) == ["gateway:query:wechat"]


async def _paid_by(live: LiveGateway, order_id: str) -> list[str]:
    """Who made the order PAID, from its audit trail."""
    headers = {"X-API-Key": live.credentials["api_key"]}
    detail = await live.http.get(f"{live.url}/v1/orders/{order_id}", headers=headers)
    return [t["actor"] for t in detail.json()["transitions"] if t["to_status"] == "PAID"]
