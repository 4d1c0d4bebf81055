"""The C-scan-B API's edges: bad input changes nothing, forged notifications are refused, images decode, retries."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image
from pyzbar.pyzbar import decode
from sqlalchemy import func, select

from gateway.persistence.tables import Order
from tests.qr.conftest import CHANNELS, attempts, create_qr, new_out_trade_no, payment, transitions
from tests.support.live import LiveGateway


async def order_count(live: LiveGateway) -> int:
    count = await live.runtime.db.transaction(lambda tx: tx.connection.scalar(select(func.count()).select_from(Order)))
    return int(count or 0)


BAD_INPUT: list[tuple[dict[str, Any], str]] = [
    ({"channel": "paypal"}, "unknown_channel"),
    ({"channel": "WECHAT"}, "unknown_channel"),
    ({"amount_fen": 0}, "invalid_amount"),
    ({"amount_fen": -5}, "invalid_amount"),
    ({"amount_fen": 100_000_001}, "amount_too_large"),
    ({"amount_fen": "12"}, "invalid_amount"),
    ({"expires_in_s": 59}, "invalid_expiry"),
    ({"expires_in_s": 7201}, "invalid_expiry"),
    ({"out_trade_no": "has space"}, "validation_error"),
]


async def test_bad_input_is_refused_and_changes_nothing(live: LiveGateway) -> None:
    for change, code in BAD_INPUT:
        body = {"amount_fen": 100, "out_trade_no": new_out_trade_no(), "channel": "aggregate", **change}
        response = await live.terminal.request("POST", "/v1/payments/qr", body)
        assert response.status_code == 422, (change, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code, change
    assert await order_count(live) == 0
    assert all(not sim.bank.orders for sim in live.runtime.simulators.values())


async def test_retries_get_the_same_order(live: LiveGateway) -> None:
    body = {"amount_fen": 990, "out_trade_no": new_out_trade_no(), "channel": "alipay"}
    first = await live.terminal.request("POST", "/v1/payments/qr", body, {"Idempotency-Key": "k1"})
    replay = await live.terminal.request("POST", "/v1/payments/qr", body, {"Idempotency-Key": "k1"})
    assert first.status_code == replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == first.json()
    other = await live.terminal.request(
        "POST", "/v1/payments/qr", {**body, "amount_fen": 991}, {"Idempotency-Key": "k1"}
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    taken = await live.terminal.request("POST", "/v1/payments/qr", body, {"Idempotency-Key": "k2"})
    assert taken.status_code == 409 and taken.json()["code"] == "duplicate_out_trade_no"
    assert await order_count(live) == 1


@pytest.mark.parametrize("channel", ["wechat", "aggregate"])
async def test_the_png_decodes_to_the_code_url(live: LiveGateway, channel: str) -> None:
    created = await create_qr(live, channel, 1250)
    response = await live.terminal.request("GET", created["qr_png_url"])
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.size == (512, 512)
    assert [symbol.data.decode() for symbol in decode(image)] == [created["code_url"]]

    small = await live.terminal.request("GET", created["qr_png_url"] + "?size=200&margin=2")
    small_image = Image.open(io.BytesIO(small.content))
    assert small_image.size == (200, 200)
    assert [symbol.data.decode() for symbol in decode(small_image)] == [created["code_url"]]
    assert (await live.terminal.request("GET", created["qr_png_url"])).content == response.content


async def test_svg_and_image_refusals(live: LiveGateway) -> None:
    created = await create_qr(live, "unionpay", 1251)
    svg = await live.terminal.request("GET", created["qr_svg_url"] + "?size=300")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith('<svg width="300" height="300"')
    too_big = await live.terminal.request("GET", created["qr_png_url"] + "?size=5000")
    assert too_big.status_code == 422 and too_big.json()["code"] == "validation_error"
    typo = await live.terminal.request("GET", created["qr_png_url"] + "?sise=300")
    assert typo.status_code == 422 and typo.json()["code"] == "unknown_parameter"
    missing = await live.terminal.request("GET", "/v1/payments/ord_nothere/qr.png")
    assert missing.status_code == 404 and missing.json()["code"] == "payment_not_found"


@pytest.mark.parametrize("channel", CHANNELS)
async def test_forged_notifications_get_the_channel_s_failure_answer(live: LiveGateway, channel: str) -> None:
    created = await create_qr(live, channel, 1300)
    simulator = live.runtime.simulators[channel]
    sim_order = simulator.bank.orders[(await attempts(live, created["order_id"]))[0].channel_out_trade_no]
    failure = live.runtime.adapters[channel].notification_ack(False)
    url = f"{live.url}/v1/notify/{channel}"

    sim_order.amount_fen = 1  # a correctly signed notification for the wrong amount
    body, content_type = simulator.payment_notification(sim_order).build()
    wrong_amount = await live.http.post(url, content=body, headers={"Content-Type": content_type})
    assert (wrong_amount.status_code, wrong_amount.content) == (failure.status_code, failure.body)

    sim_order.amount_fen = 1300
    body, content_type = simulator.payment_notification(sim_order).build()
    tampered = body.replace(b"1300", b"1301") if channel != "alipay" else body.replace(b"13.00", b"13.01")
    assert tampered != body
    forged = await live.http.post(url, content=tampered, headers={"Content-Type": content_type})
    assert (forged.status_code, forged.content) == (failure.status_code, failure.body)

    garbage = await live.http.post(url, content=b"\xff\x00not a notification", headers={"Content-Type": content_type})
    assert (garbage.status_code, garbage.content) == (failure.status_code, failure.body)

    assert (await payment(live, created["order_id"]))["status"] == "AWAITING_PAYMENT"
    assert [t.to_status for t in await transitions(live, created["order_id"])] == ["CREATED", "AWAITING_PAYMENT"]


async def test_notifications_for_unknown_channels_or_orders(live: LiveGateway) -> None:
    unknown_channel = await live.http.post(f"{live.url}/v1/notify/paypal", content=b"x")
    assert unknown_channel.status_code == 404 and unknown_channel.json()["code"] == "channel_not_found"
    created = await create_qr(live, "wechat", 1400)
    simulator = live.runtime.simulators["wechat"]
    sim_order = simulator.bank.orders[(await attempts(live, created["order_id"]))[0].channel_out_trade_no]
    sim_order.out_trade_no = "ord01ffffffffffffffffffffff"  # signed, but for no order of ours
    body, content_type = simulator.payment_notification(sim_order).build()
    response = await live.http.post(
        f"{live.url}/v1/notify/wechat", content=body, headers={"Content-Type": content_type}
    )
    failure = live.runtime.adapters["wechat"].notification_ack(False)
    assert (response.status_code, response.content) == (failure.status_code, failure.body)
