"""A channel's own dynamic code, end to end over real HTTP: scanned and paid, notified, swept, expired, cancelled."""

from __future__ import annotations

import pytest

from tests.qr.conftest import (
    CHANNELS,
    acknowledged_notifications,
    attempts,
    create_qr,
    events,
    eventually,
    ledger_kinds,
    paid_after_close,
    payment,
    scan,
    transitions,
    wait_refunded,
    wait_status,
)
from tests.support.live import LiveGateway

CODE_PREFIXES = {
    "wechat": "weixin://wxpay/bizpayurl?pr=",
    "alipay": "https://qr.alipay.com/",
    "unionpay": "https://qr.95516.com/",
}


@pytest.mark.parametrize("channel", CHANNELS)
async def test_scanned_and_paid_through_the_notification(
    live: LiveGateway, channel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gateway.services.qr_payments.sweep_delay", lambda attempt: 600.0)  # only the notify pays
    created = await create_qr(live, channel, 1234, description="noodles")
    assert created["status"] == "AWAITING_PAYMENT" and created["channel"] == channel
    assert created["code_url"].startswith(CODE_PREFIXES[channel])
    assert created["qr_png_url"] == f"/v1/payments/{created['order_id']}/qr.png"

    assert await scan(live, channel, created["code_url"]) == 200
    paid = await wait_status(live, created["order_id"], "PAID")
    assert paid["channel"] == channel and paid["channel_trade_no"] and paid["paid_at"]
    assert ledger_kinds(live, channel, created["order_id"]) == [("charge", 1234)]
    assert await eventually(lambda: acknowledged_notifications(live, channel, created["order_id"])) == [True]
    paid_transition = [t for t in await transitions(live, created["order_id"]) if t.to_status == "PAID"]
    assert [t.actor for t in paid_transition] == [f"channel:{channel}:notify"]
    assert [e.type for e in await events(live, created["order_id"])] == ["order.paid"]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_duplicated_notifications_are_harmless(live: LiveGateway, channel: str) -> None:
    created = await create_qr(live, channel, 1210)  # amount ending 10: the channel sends every notification twice
    assert await scan(live, channel, created["code_url"]) == 200
    await wait_status(live, created["order_id"], "PAID")
    assert await eventually(lambda: len(acknowledged_notifications(live, channel, created["order_id"])) == 2)
    assert acknowledged_notifications(live, channel, created["order_id"]) == [True, True]
    assert [t.to_status for t in await transitions(live, created["order_id"])].count("PAID") == 1
    assert [e.type for e in await events(live, created["order_id"])] == ["order.paid"]
    assert ledger_kinds(live, channel, created["order_id"]) == [("charge", 1210)]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_lost_notification_is_recovered_by_the_sweep_and_a_late_one_changes_nothing(
    live: LiveGateway, channel: str
) -> None:
    created = await create_qr(live, channel, 1211)  # amount ending 11: the channel never sends the notification
    assert await scan(live, channel, created["code_url"]) == 200
    paid = await wait_status(live, created["order_id"], "PAID")
    assert paid["channel_trade_no"]
    assert acknowledged_notifications(live, channel, created["order_id"]) == []
    actors = [t.actor for t in await transitions(live, created["order_id"]) if t.to_status == "PAID"]
    assert actors == [f"gateway:sweep:{channel}"]

    # Out of order: the channel's notification arrives after the sweep applied the payment.
    simulator = live.runtime.simulators[channel]
    sim_order = simulator.bank.orders[(await attempts(live, created["order_id"]))[0].channel_out_trade_no]
    body, content_type = simulator.payment_notification(sim_order).build()
    response = await live.http.post(
        f"{live.url}/v1/notify/{channel}", content=body, headers={"Content-Type": content_type}
    )
    ack = live.runtime.adapters[channel].notification_ack(True)
    assert (response.status_code, response.content) == (ack.status_code, ack.body)
    assert [t.to_status for t in await transitions(live, created["order_id"])].count("PAID") == 1
    assert [e.type for e in await events(live, created["order_id"])] == ["order.paid"]
    assert ledger_kinds(live, channel, created["order_id"]) == [("charge", 1211)]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_delayed_notification(live: LiveGateway, channel: str) -> None:
    simulator = live.runtime.simulators[channel]
    simulator.notifier.ladder = (1.0, 1.0)  # the first attempt comes one step (1 s) late
    created = await create_qr(live, channel, 1212)  # amount ending 12: the first notification comes late
    assert await scan(live, channel, created["code_url"]) == 200
    await wait_status(live, created["order_id"], "PAID")
    assert await eventually(lambda: acknowledged_notifications(live, channel, created["order_id"])) == [True]
    assert [t.to_status for t in await transitions(live, created["order_id"])].count("PAID") == 1
    assert ledger_kinds(live, channel, created["order_id"]) == [("charge", 1212)]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_expiry_closes_the_code_at_the_channel_and_locally(live: LiveGateway, channel: str) -> None:
    created = await create_qr(live, channel, 1500, expires_in_s=60)  # 3 s at the tests' time scale
    closed = await wait_status(live, created["order_id"], "CLOSED")
    assert closed["paid_at"] is None
    assert [a.status for a in await attempts(live, created["order_id"])] == ["CLOSED"]
    assert [e.type for e in await events(live, created["order_id"])] == ["order.closed"]
    assert await scan(live, channel, created["code_url"]) == 409  # the wallet can no longer pay it
    assert ledger_kinds(live, channel, created["order_id"]) == []


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_payment_after_close_is_refunded(live: LiveGateway, channel: str) -> None:
    order_id = await paid_after_close(live, channel, 1600)
    refund = await wait_refunded(live, order_id)
    assert refund.reason == "paid_after_close" and refund.amount_fen == 1600 and refund.channel == channel
    assert ledger_kinds(live, channel, order_id) == [("charge", 1600), ("refund", 1600)]
    assert (await payment(live, order_id))["status"] == "CLOSED"
    types = [e.type for e in await events(live, order_id)]
    assert types == ["order.closed", "order.paid_after_close", "refund.succeeded"]
    assert [a.status for a in await attempts(live, order_id)] == ["REFUNDED"]


async def test_cancel_rules(live: LiveGateway) -> None:
    created = await create_qr(live, "wechat", 1700)
    first = await live.terminal.request("POST", f"/v1/payments/{created['order_id']}/cancel")
    again = await live.terminal.request("POST", f"/v1/payments/{created['order_id']}/cancel")
    assert first.status_code == again.status_code == 200 and again.json()["status"] == "CLOSED"
    assert [e.type for e in await events(live, created["order_id"])] == ["order.closed"]

    paid = await create_qr(live, "wechat", 1701)
    assert await scan(live, "wechat", paid["code_url"]) == 200
    await wait_status(live, paid["order_id"], "PAID")
    refused = await live.terminal.request("POST", f"/v1/payments/{paid['order_id']}/cancel")
    assert refused.status_code == 409 and refused.json()["code"] == "order_already_paid"

    unknown = await live.terminal.request("POST", "/v1/payments/ord_nothere/cancel")
    assert unknown.status_code == 404 and unknown.json()["code"] == "payment_not_found"


async def test_a_refund_without_an_answer_is_sent_again_and_refunds_once(live: LiveGateway) -> None:
    created = await create_qr(live, "wechat", 1800)
    sim = f"{live.url}/sim/wechat/_sim/faults"
    await live.http.post(sim, json={"operation": "close", "fault": "http_500", "times": 1000})
    await live.http.post(sim, json={"operation": "refund", "fault": "http_500", "times": 2})
    cancelled = await live.terminal.request("POST", f"/v1/payments/{created['order_id']}/cancel")
    assert cancelled.json()["status"] == "CLOSED"
    assert await scan(live, "wechat", created["code_url"]) == 200

    refund = await wait_refunded(live, created["order_id"])  # WeChat accepts, then its refund query says SUCCESS
    assert refund.channel_refund_no and refund.finished_at is not None
    assert ledger_kinds(live, "wechat", created["order_id"]) == [("charge", 1800), ("refund", 1800)]
    assert live.runtime.simulators["wechat"].bank.faults.take("refund") is None, "both failures were met first"
