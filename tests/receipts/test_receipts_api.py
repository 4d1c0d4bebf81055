"""Receipts through the terminal API: a payment's, a refund's, a void's and the last transaction's, reprints counted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.client import TerminalClient
from gateway.config import Settings
from gateway.domain.receipts import REPRINT_LINE
from tests.refunds.conftest import pay, settled, terminal_refund
from tests.refunds.test_voids import problem, voided
from tests.support.live import LiveGateway, live_gateway

LAST = "/v1/terminal/transactions/last/receipt"


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveGateway]:
    async with live_gateway(settings) as gateway:
        yield gateway


async def slip(live: LiveGateway, path: str, **params: str) -> httpx.Response:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return await live.terminal.request("GET", f"{path}?{query}" if query else path)


def payment_path(order_id: str) -> str:
    return f"/v1/terminal/transactions/{order_id}/receipt"


def refund_path(refund_id: str) -> str:
    return f"/v1/terminal/refunds/{refund_id}/receipt"


async def test_a_payment_slip_in_both_copies_and_formats_and_its_reprints(live: LiveGateway) -> None:
    order_id = await pay(live, "wechat", 1250)
    paid = (await live.terminal.get_payment(order_id)).json()

    first = await slip(live, payment_path(order_id))  # the customer copy as text by default
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/plain")
    assert first.headers["Receipt-Prints"] == "1"
    text = first.text
    assert "顾客存根 CUSTOMER COPY" in text and "扫码消费 SALE" in text and "RMB 12.50" in text
    for number in (paid["batch_no"], paid["voucher_no"], paid["reference_no"]):
        assert number in text
    assert REPRINT_LINE not in text

    merchant = await slip(live, payment_path(order_id), copy="merchant")
    assert merchant.headers["Receipt-Prints"] == "1"  # each copy is counted on its own
    assert "商户存根 MERCHANT COPY" in merchant.text and REPRINT_LINE not in merchant.text

    again = await slip(live, payment_path(order_id), format="html")
    assert again.headers["content-type"].startswith("text/html") and again.headers["Receipt-Prints"] == "2"
    assert REPRINT_LINE in again.text and "RMB 12.50" in again.text
    third = await slip(live, payment_path(order_id))
    assert third.headers["Receipt-Prints"] == "3" and REPRINT_LINE in third.text


async def test_refund_and_void_slips_and_the_last_transactions(live: LiveGateway) -> None:
    refunded = await pay(live, "alipay", 800)
    paid = (await live.terminal.get_payment(refunded)).json()
    refund = await terminal_refund(live, refunded, 300)
    assert refund.status_code in (200, 202), refund.text
    await settled(live, refunded)

    last = await slip(live, LAST)
    assert last.status_code == 200 and "扫码退货 REFUND" in last.text and "RMB 3.00" in last.text
    assert paid["voucher_no"] in last.text  # the original payment's voucher number
    by_id = await slip(live, refund_path(refund.json()["refund_id"]))
    assert by_id.headers["Receipt-Prints"] == "2" and REPRINT_LINE in by_id.text  # the same slip as "last"

    voided_order = await pay(live, "unionpay", 450)
    the_void = await voided(live, voided_order)
    last = await slip(live, LAST, copy="merchant")
    assert "扫码撤销 VOID" in last.text and "RMB 4.50" in last.text and the_void["voucher_no"] in last.text
    payment_slip = await slip(live, payment_path(voided_order))  # a voided payment keeps its slip
    assert payment_slip.status_code == 200 and "扫码消费 SALE" in payment_slip.text


async def test_what_has_no_slip_is_refused(live: LiveGateway) -> None:
    problem(await slip(live, LAST), 404, "transaction_not_found")  # nothing numbered yet
    created = await live.terminal.request(
        "POST", "/v1/payments/qr", {"amount_fen": 100, "out_trade_no": "Qreceipt1", "channel": "wechat"}
    )
    assert created.status_code == 201, created.text
    problem(await slip(live, payment_path(created.json()["order_id"])), 409, "receipt_not_available")
    problem(await slip(live, payment_path("ord_doesnotexist")), 404, "transaction_not_found")
    problem(await slip(live, refund_path("rfd_doesnotexist")), 404, "transaction_not_found")

    order_id = await pay(live, "wechat", 100)
    problem(await slip(live, payment_path(order_id), copy="both"), 422, "validation_error")
    problem(await slip(live, payment_path(order_id), format="pdf"), 422, "validation_error")
    problem(await slip(live, payment_path(order_id), order_id=order_id), 422, "unknown_parameter")

    c = live.credentials
    other = await live.runtime.merchants.create_terminal(c["merchant_id"], c["store_id"], "Till 2")
    client = TerminalClient(live.url, other.key_id, other.secret, live.http)
    problem(await client.request("GET", payment_path(order_id)), 404, "transaction_not_found")
    problem(await client.request("GET", LAST), 404, "transaction_not_found")
    # refused requests printed nothing: the first real print is still the original
    first = await slip(live, payment_path(order_id))
    assert first.headers["Receipt-Prints"] == "1"
