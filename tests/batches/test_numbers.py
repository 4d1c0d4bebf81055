"""Batch, voucher and reference numbers: taken in the order's transaction, distinct under concurrency, wrapping."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.config import Settings
from gateway.persistence import batches
from gateway.persistence.database import Tx
from gateway.persistence.tables import Refund, Terminal
from tests.support.live import LiveGateway, live_gateway


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveGateway]:
    async with live_gateway(settings) as gateway:
        yield gateway


def _out_trade_no() -> str:
    return "B" + secrets.token_hex(8)


async def _pay(live: LiveGateway, amount_fen: int = 100) -> dict[str, Any]:
    code = await live.payment_code("alipay")
    response = await live.terminal.micropay(amount_fen, _out_trade_no(), code)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _terminal_counters(live: LiveGateway) -> tuple[int | None, int]:
    terminal_id = live.credentials["terminal_id"]

    def read(tx: Tx) -> tuple[int | None, int]:
        query = select(Terminal.batch_no, Terminal.voucher_seq).where(Terminal.id == terminal_id)
        batch, seq = tx.connection.execute(query).one()
        return batch, seq

    return await live.runtime.db.transaction(read)


async def _set_voucher_seq(live: LiveGateway, seq: int) -> None:
    statement = update(Terminal).where(Terminal.id == live.credentials["terminal_id"]).values(voucher_seq=seq)
    await live.runtime.db.transaction(lambda tx: tx.connection.execute(statement))


async def _merchant_orders(live: LiveGateway, **params: str) -> list[dict[str, Any]]:
    response = await live.http.get(
        f"{live.url}/v1/orders", params=params, headers={"X-API-Key": live.credentials["api_key"]}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_fifty_concurrent_payments_get_fifty_consecutive_voucher_numbers(live: LiveGateway) -> None:
    assert await _terminal_counters(live) == (None, 0)  # never signed in, nothing paid: no batch yet
    codes = [await live.payment_code("alipay") for _ in range(50)]
    responses = await asyncio.gather(*(live.terminal.micropay(100, _out_trade_no(), code) for code in codes))
    assert [r.status_code for r in responses] == [200] * 50
    paid = [r.json() for r in responses]
    # the first transaction without a batch opened batch 000001
    assert {p["batch_no"] for p in paid} == {"000001"}
    assert sorted(p["voucher_no"] for p in paid) == [f"{n:06d}" for n in range(1, 51)]
    references = {p["reference_no"] for p in paid}
    assert len(references) == 50 and all(len(r) == 12 and r.isdigit() for r in references)
    assert await _terminal_counters(live) == (1, 50)


async def test_voucher_numbers_wrap_after_999999(live: LiveGateway) -> None:
    await _set_voucher_seq(live, 999_998)
    numbers = [(await _pay(live))["voucher_no"] for _ in range(3)]
    assert numbers == ["999999", "000001", "000002"]


async def test_sign_in_opens_batch_one_and_closing_a_batch_moves_on(live: LiveGateway) -> None:
    signed_in = await live.terminal.sign_in("001", "cashier-001")
    assert signed_in.status_code == 200, signed_in.text
    terminal_id = live.credentials["terminal_id"]
    assert await live.runtime.db.transaction(batches.open_batch_no, terminal_id) == "000001"
    assert (await live.terminal.sign_in("001", "cashier-001")).status_code == 200
    assert await live.runtime.db.transaction(batches.open_batch_no, terminal_id) == "000001"  # still the same

    first = await _pay(live)
    assert (first["batch_no"], first["voucher_no"]) == ("000001", "000001")
    assert await live.runtime.db.transaction(batches.close_batch, terminal_id) == "000002"
    second = await _pay(live)
    assert (second["batch_no"], second["voucher_no"]) == ("000002", "000002")  # voucher numbers run on
    assert int(second["reference_no"]) == int(first["reference_no"]) + 1


async def test_numbers_reach_events_and_the_merchant_api_and_find_orders(live: LiveGateway) -> None:
    first, second = await _pay(live, 101), await _pay(live, 102)
    qr = await live.terminal.request(
        "POST", "/v1/payments/qr", {"amount_fen": 103, "out_trade_no": _out_trade_no(), "channel": "wechat"}
    )
    assert qr.status_code == 201, qr.text
    assert qr.json()["voucher_no"] == "000003" and qr.json()["batch_no"] == "000001"

    [found] = await _merchant_orders(live, reference_no=second["reference_no"])
    assert (found["order_id"], found["voucher_no"], found["batch_no"]) == (second["order_id"], "000002", "000001")
    [by_voucher] = await _merchant_orders(live, voucher_no="000001", batch_no="000001")
    assert by_voucher["order_id"] == first["order_id"] and by_voucher["reference_no"] == first["reference_no"]
    assert await _merchant_orders(live, reference_no="999999999999") == []
    refused = await live.http.get(
        f"{live.url}/v1/orders", params={"voucher_no": "12"}, headers={"X-API-Key": live.credentials["api_key"]}
    )
    assert refused.status_code == 422

    events = await live.terminal.poll_events(live.credentials["terminal_id"], 0)
    paid_events = {e["order_id"]: e["data"] for e in events.json()["items"] if e["event"] == "order.paid"}
    assert paid_events[first["order_id"]]["voucher_no"] == "000001"
    assert paid_events[second["order_id"]]["reference_no"] == second["reference_no"]


async def test_a_terminal_refund_takes_the_next_numbers_a_merchant_refund_none(live: LiveGateway) -> None:
    paid = await _pay(live, 500)
    body = {"order_id": paid["order_id"], "amount_fen": 100, "out_refund_no": "R" + secrets.token_hex(6)}
    by_terminal = await live.terminal.request("POST", "/v1/refunds", body)
    assert by_terminal.status_code in (200, 202), by_terminal.text
    by_merchant = await live.http.post(
        f"{live.url}/v1/orders/{paid['order_id']}/refunds",
        json={"amount_fen": 100, "out_refund_no": "M" + secrets.token_hex(6)},
        headers={"X-API-Key": live.credentials["api_key"]},
    )
    assert by_merchant.status_code in (200, 202), by_merchant.text
    after = await _pay(live, 501)

    def numbers(tx: Tx) -> dict[str, tuple[str | None, str | None, str | None]]:
        query = select(Refund.id, Refund.batch_no, Refund.voucher_no, Refund.reference_no)
        return {row.id: (row.batch_no, row.voucher_no, row.reference_no) for row in tx.connection.execute(query)}

    found = await live.runtime.db.transaction(numbers)
    reference = int(paid["reference_no"])
    assert found[by_terminal.json()["refund_id"]] == ("000001", "000002", f"{reference + 1:012d}")
    assert found[by_merchant.json()["refund_id"]] == (None, None, None)
    assert (after["voucher_no"], after["reference_no"]) == ("000003", f"{reference + 2:012d}")
