"""End of day through the terminal API: a day on each channel settles to the sum of its transactions, fees
included; in-flight transactions, no operator and voids after settlement are refused; the slip and its reprints."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from adapters.simcore.faults import Fault
from gateway.config import Settings
from gateway.domain.fees import fee_fen
from gateway.domain.receipts import REPRINT_LINE
from gateway.persistence.database import Tx
from gateway.persistence.tables import Order, Refund
from tests.qr.conftest import create_qr, paid_after_close, wait_refunded, wait_status
from tests.refunds.conftest import CHANNELS, merchant_headers, pay, settled, terminal_refund
from tests.refunds.test_voids import problem, qr_paid, void, voided
from tests.support.live import LiveGateway, live_gateway

SETTLE = "/v1/terminal/settlement"
SLIP = "/v1/terminal/settlement/last/slip"
RATES = {"wechat": 60, "alipay": 60, "unionpay": 38}
RETURNS_FEE = {"wechat": True, "alipay": True, "unionpay": False}


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveGateway]:
    async with live_gateway(settings) as gateway:
        yield gateway


async def sign_in(live: LiveGateway) -> None:
    assert (await live.terminal.sign_in("001", "cashier-001")).status_code == 200


async def settle(live: LiveGateway) -> httpx.Response:
    return await live.terminal.request("POST", SETTLE, {})


async def fees_of(live: LiveGateway, order_id: str) -> tuple[int | None, int | None, list[tuple[str, int | None]]]:
    """The payment's rate and fee, and each refund's status and fee given back, as stored."""

    def read(tx: Tx) -> tuple[int | None, int | None, list[tuple[str, int | None]]]:
        rate, fee = tx.connection.execute(select(Order.fee_rate_bp, Order.fee_fen).where(Order.id == order_id)).one()
        rows = tx.connection.execute(select(Refund.status, Refund.fee_fen).where(Refund.order_id == order_id))
        return rate, fee, [(str(status), back) for status, back in rows]

    return await live.runtime.db.transaction(read)


async def failed_and_reversed(live: LiveGateway, channel: str) -> list[str]:
    """A micropay the wallet declined, and one left "user paying" until the gateway reversed it; their ids."""
    failed = await live.terminal.micropay(
        999, "F" + secrets.token_hex(6), await live.payment_code(channel, Fault.INSUFFICIENT_BALANCE)
    )
    assert failed.json()["status"] == "FAILED", failed.text
    stuck = await live.terminal.micropay(
        1313, "R" + secrets.token_hex(6), await live.payment_code(channel, Fault.PASSWORD_TIMEOUT)
    )
    assert stuck.status_code in (200, 202), stuck.text
    assert (await wait_status(live, stuck.json()["order_id"], "REVERSED"))["paid_at"] is None
    return [failed.json()["order_id"], stuck.json()["order_id"]]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_day_settles_to_the_sum_of_its_transactions_fees_included(live: LiveGateway, channel: str) -> None:
    await sign_in(live)
    rate = RATES[channel]
    kept = await pay(live, channel, 1250)  # fee 7.5 -> 8 at 60 bp
    partly = await qr_paid(live, channel, 2000)
    refund = await terminal_refund(live, partly, 500)
    assert refund.status_code in (200, 202), refund.text
    whole = await pay(live, channel, 800)
    full = await terminal_refund(live, whole, 800)
    assert full.status_code in (200, 202), full.text
    undone = await pay(live, channel, 1111)
    assert (await voided(live, undone))["status"] == "SUCCEEDED"
    await failed_and_reversed(live, channel)
    twice = await paid_after_close(live, channel, 1600)
    for order_id in (partly, whole):
        await settled(live, order_id)

    back = 1 if RETURNS_FEE[channel] else 0
    assert await fees_of(live, kept) == (rate, fee_fen(1250, rate), [])
    assert await fees_of(live, partly) == (rate, fee_fen(2000, rate), [("SUCCEEDED", back * fee_fen(500, rate))])
    assert await fees_of(live, undone) == (rate, fee_fen(1111, rate), [("SUCCEEDED", fee_fen(1111, rate))])  # reversed
    # the customer's second payment went back to them at once: it is not the shop's takings, in no batch total
    assert (await wait_refunded(live, twice)).reason == "paid_after_close"

    answer = await settle(live)
    assert answer.status_code == 201, answer.text
    settlement = answer.json()
    assert (settlement["batch_no"], settlement["next_batch_no"]) == ("000001", "000002")
    charged = sum(fee_fen(amount, rate) for amount in (1250, 2000, 800, 1111))
    given_back = back * (fee_fen(500, rate) + fee_fen(800, rate)) + fee_fen(1111, rate)
    expected = {
        "payments": {"count": 4, "amount_fen": 1250 + 2000 + 800 + 1111},
        "voids": {"count": 1, "amount_fen": 1111},
        "refunds": {"count": 2, "amount_fen": 500 + 800},
        "fees_fen": charged - given_back,
        "net_fen": 1250 + 2000 + 800 + 1111 - 1111 - 500 - 800 - (charged - given_back),
    }
    assert settlement["totals"] == {"channels": {channel: expected}, "total": expected}

    # the operator was signed out, the next transaction is in the next batch, and the old batch is closed
    problem(await settle(live), 403, "operator_required")
    problem(await void(live, kept), 409, "batch_settled")
    later = await pay(live, channel, 300)
    assert (await live.terminal.get_payment(later)).json()["batch_no"] == "000002"


async def test_in_flight_transactions_are_listed_and_nothing_is_settled(live: LiveGateway) -> None:
    problem(await settle(live), 403, "operator_required")
    await sign_in(live)
    await pay(live, "wechat", 100)
    waiting = await create_qr(live, "alipay", 700)
    refused = await settle(live)
    problem(refused, 409, "batch_in_flight")
    [listed] = refused.json()["transactions"]
    assert (listed["kind"], listed["id"], listed["status"]) == ("payment", waiting["order_id"], "AWAITING_PAYMENT")
    assert listed["voucher_no"] == waiting["voucher_no"]
    assert listed["cancel"] == f"POST /v1/payments/{waiting['order_id']}/cancel"  # offered: it is not paid yet
    problem(await live.terminal.request("GET", SLIP), 404, "settlement_not_found")  # nothing was written

    cancelled = await live.terminal.request("POST", f"/v1/payments/{waiting['order_id']}/cancel", {})
    assert cancelled.status_code == 200, cancelled.text
    answer = await settle(live)
    assert answer.status_code == 201, answer.text
    assert answer.json()["totals"]["total"]["payments"] == {"count": 1, "amount_fen": 100}
    problem(await settle(live), 403, "operator_required")  # signed out by the settlement


async def test_the_slip_of_the_last_settlement_and_its_reprints(live: LiveGateway) -> None:
    await sign_in(live)
    await pay(live, "wechat", 1250)
    await pay(live, "unionpay", 10_000)
    assert (await settle(live)).status_code == 201

    first = await live.terminal.request("GET", SLIP)
    assert first.status_code == 200 and first.headers["Receipt-Prints"] == "1"
    text = first.text
    assert "结算总计单 SETTLEMENT" in text and "批次号 BATCH NO:000001" in text and REPRINT_LINE not in text
    assert "微信支付" in text and "云闪付" in text and "RMB 112.50" in text  # the total of both
    assert all(len(line) <= 32 for line in text.splitlines())
    again = await live.terminal.request("GET", f"{SLIP}?format=html")
    assert again.headers["content-type"].startswith("text/html") and again.headers["Receipt-Prints"] == "2"
    assert REPRINT_LINE in again.text
    problem(await live.terminal.request("GET", f"{SLIP}?copy=merchant"), 422, "unknown_parameter")


async def test_fee_rates_are_set_per_merchant_and_never_rewrite_history(live: LiveGateway) -> None:
    rates = await live.http.get(f"{live.url}/v1/fee-rates", headers=merchant_headers(live))
    assert rates.status_code == 200
    assert {(r["channel"], r["rate_bp"], r["own"]) for r in rates.json()} == {(c, b, False) for c, b in RATES.items()}
    before = await pay(live, "wechat", 10_000)

    changed = await live.http.put(
        f"{live.url}/v1/fee-rates/wechat", json={"rate_bp": 38}, headers=merchant_headers(live)
    )
    assert changed.status_code == 200 and changed.json() == {"channel": "wechat", "rate_bp": 38, "own": True}
    after = await pay(live, "wechat", 10_000)
    assert (await fees_of(live, before))[:2] == (60, 60)
    assert (await fees_of(live, after))[:2] == (38, 38)

    refusals = [
        ({"rate_bp": 10_001}, "invalid_fee_rate"),
        ({"rate_bp": -1}, "invalid_fee_rate"),
        ({"rate_bp": "lots"}, "validation_error"),
        ({"rate_bp": 5, "x": 1}, "validation_error"),
    ]
    for body, code in refusals:
        answer = await live.http.put(f"{live.url}/v1/fee-rates/wechat", json=body, headers=merchant_headers(live))
        problem(answer, 422, code)
    unknown = await live.http.put(
        f"{live.url}/v1/fee-rates/paypal", json={"rate_bp": 5}, headers=merchant_headers(live)
    )
    assert unknown.status_code == 422
    listed: list[dict[str, Any]] = (
        await live.http.get(f"{live.url}/v1/fee-rates", headers=merchant_headers(live))
    ).json()
    assert {r["channel"]: r["rate_bp"] for r in listed} == {**RATES, "wechat": 38}
