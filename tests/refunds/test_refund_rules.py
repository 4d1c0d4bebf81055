"""Every refusal of a refund request: its problem code, and nothing written, reserved or sent to the channel."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from adapters.simcore.faults import Fault
from gateway.client import TerminalClient
from gateway.config import Settings
from gateway.persistence.database import Tx
from gateway.persistence.tables import Order
from tests.refunds.conftest import (
    merchant_refund,
    order_refunds,
    pay,
    refund_no,
    refunded_at_channel,
    settled,
    terminal_refund,
)
from tests.support.factories import make_merchant
from tests.support.live import LiveGateway, live_gateway


async def _set_order(live: LiveGateway, order_id: str, **values: Any) -> None:
    def change(tx: Tx) -> None:
        tx.connection.execute(update(Order).where(Order.id == order_id).values(**values))

    await live.runtime.db.transaction(change)


async def _unchanged(live: LiveGateway, channel: str, order_id: str, refunds: int, refundable_fen: int) -> None:
    """Nothing half-done: no refund row, no reservation, no money moved beyond what was there."""
    found = await order_refunds(live, order_id)
    assert (len(found["items"]), found["refundable_fen"]) == (refunds, refundable_fen), found
    assert len(await refunded_at_channel(live, channel, order_id)) == sum(
        item["status"] == "SUCCEEDED" for item in found["items"]
    )


def _problem(response: Any) -> tuple[int, str]:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response.status_code, response.json()["code"]


async def test_unpaid_and_failed_orders_are_not_refundable(live: LiveGateway) -> None:
    declined = await live.terminal.micropay(
        500, "D" + secrets.token_hex(6), await live.payment_code("wechat", Fault.INSUFFICIENT_BALANCE)
    )
    assert declined.json()["status"] == "FAILED", declined.text
    order_id = declined.json()["order_id"]
    assert _problem(await terminal_refund(live, order_id, 100)) == (409, "order_not_refundable")
    assert _problem(await merchant_refund(live, order_id, 100)) == (409, "order_not_refundable")
    qr = await live.terminal.request(
        "POST", "/v1/payments/qr", {"amount_fen": 300, "out_trade_no": "Q" + secrets.token_hex(6), "channel": "alipay"}
    )
    assert qr.status_code == 201, qr.text
    assert _problem(await merchant_refund(live, qr.json()["order_id"], 100)) == (409, "order_not_refundable")
    await _unchanged(live, "wechat", order_id, 0, 0)


async def test_more_than_is_left_and_reused_numbers_are_refused(live: LiveGateway) -> None:
    order_id = await pay(live, "unionpay", 1000)
    number = refund_no()
    assert (await merchant_refund(live, order_id, 600, number)).status_code in (200, 202)
    assert _problem(await merchant_refund(live, order_id, 401)) == (422, "refund_exceeds_remaining")
    assert _problem(await terminal_refund(live, order_id, 1001)) == (422, "refund_exceeds_remaining")
    assert _problem(await merchant_refund(live, order_id, 300, number)) == (422, "out_refund_no_reused")
    assert _problem(await merchant_refund(live, order_id, 600, number, reason="other")) == (422, "out_refund_no_reused")
    other_order = await pay(live, "unionpay", 1000)
    assert _problem(await merchant_refund(live, other_order, 600, number)) == (422, "out_refund_no_reused")
    await settled(live, order_id)
    await _unchanged(live, "unionpay", order_id, 1, 400)
    await _unchanged(live, "unionpay", other_order, 0, 1000)
    assert _problem(await terminal_refund(live, order_id, 0)) == (422, "invalid_amount")
    assert _problem(await terminal_refund(live, order_id, 100, "bad number!")) == (422, "validation_error")


async def test_each_channels_refund_window(settings: Settings) -> None:
    async with live_gateway(settings, unionpay_refund_window_days=7) as live:
        now = datetime.now(UTC)
        for channel, days in (("wechat", 365), ("alipay", 90), ("unionpay", 7)):
            order_id = await pay(live, channel, 500)
            await _set_order(live, order_id, paid_at=now - timedelta(days=days, hours=1))
            refused = await merchant_refund(live, order_id, 100)
            assert _problem(refused) == (422, "refund_window_closed"), channel
            assert f"{days} days" in refused.json()["detail"]
            await _unchanged(live, channel, order_id, 0, 500)
            await _set_order(live, order_id, paid_at=now - timedelta(days=days - 1))
            assert (await merchant_refund(live, order_id, 100)).status_code in (200, 202), channel


async def test_wechat_takes_fifty_refunds_per_order(live: LiveGateway) -> None:
    wechat, alipay = await pay(live, "wechat", 500), await pay(live, "alipay", 500)
    for order_id in (wechat, alipay):
        await _set_order(live, order_id, refund_count=50)
    assert _problem(await terminal_refund(live, wechat, 100)) == (422, "too_many_refunds")
    await _unchanged(live, "wechat", wechat, 0, 500)
    assert (await terminal_refund(live, alipay, 100)).status_code == 200  # Alipay has no such cap


async def test_only_your_own_orders(live: LiveGateway) -> None:
    order_id = await pay(live, "wechat", 500)
    other = await make_merchant(live.runtime, "Other")
    assert _problem(
        await live.http.post(
            f"{live.url}/v1/orders/{order_id}/refunds",
            json={"amount_fen": 100, "out_refund_no": "x1"},
            headers=other.headers,
        )
    ) == (404, "order_not_found")
    terminal = await live.runtime.merchants.create_terminal(
        live.credentials["merchant_id"], live.credentials["store_id"], "Till 2"
    )
    second = TerminalClient(live.url, terminal.key_id, terminal.secret, live.http)
    refused = await second.request(
        "POST", "/v1/refunds", {"order_id": order_id, "amount_fen": 100, "out_refund_no": "x2"}
    )
    assert _problem(refused) == (404, "payment_not_found")
    refund = (await terminal_refund(live, order_id, 100)).json()
    assert _problem(await second.request("GET", f"/v1/refunds/{refund['refund_id']}")) == (404, "refund_not_found")
    assert _problem(await live.http.get(f"{live.url}/v1/refunds/{refund['refund_id']}", headers=other.headers)) == (
        404,
        "refund_not_found",
    )
    await settled(live, order_id)
    await _unchanged(live, "wechat", order_id, 1, 400)


async def test_a_merchant_can_require_a_supervisor_on_terminal_refunds(live: LiveGateway) -> None:
    order_id = await pay(live, "alipay", 1000)
    await live.runtime.refunds.set_requires_supervisor(live.credentials["merchant_id"], True)
    assert _problem(await terminal_refund(live, order_id, 100)) == (403, "supervisor_required")
    wrong = {"number": "900", "password": "not-the-password"}
    assert _problem(await terminal_refund(live, order_id, 100, supervisor=wrong)) == (403, "operator_sign_in_failed")
    cashier = {"number": "001", "password": "cashier-001"}
    assert _problem(await terminal_refund(live, order_id, 100, supervisor=cashier)) == (403, "supervisor_required")
    await _unchanged(live, "alipay", order_id, 0, 1000)

    approved = await terminal_refund(live, order_id, 100, supervisor={"number": "900", "password": "supervisor-900"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["supervisor_id"] is not None
    assert (await merchant_refund(live, order_id, 100)).status_code == 200  # the API key needs no supervisor
    await live.runtime.refunds.set_requires_supervisor(live.credentials["merchant_id"], False)
    assert (await terminal_refund(live, order_id, 100)).status_code == 200
    await _unchanged(live, "alipay", order_id, 3, 700)


@pytest.mark.parametrize("channel", ["wechat", "unionpay"])
async def test_a_refused_refund_gives_its_amount_back(live: LiveGateway, channel: str) -> None:
    order_id = await pay(live, channel, 1000)
    refused = await merchant_refund(live, order_id, 921)  # 21: the channel refuses it
    assert refused.status_code == 200, refused.text
    assert (refused.json()["status"], refused.json()["failure_code"]) == ("FAILED", "refund_rejected")
    await _unchanged(live, channel, order_id, 1, 1000)
    assert (await order_refunds(live, order_id))["status"] == "PAID"
    assert (await merchant_refund(live, order_id, 1000)).status_code in (200, 202)
    assert (await settled(live, order_id))["status"] == "REFUNDED"
