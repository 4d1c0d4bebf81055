"""The aggregate code over real HTTP: opened in each wallet app, in a browser, in two apps (paid twice), or stale."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.qr.conftest import (
    BROWSER,
    CHANNELS,
    USER_AGENTS,
    attempts,
    create_qr,
    events,
    ledger_kinds,
    scan,
    wait_refunded,
    wait_status,
)
from tests.support.live import LiveGateway


async def open_code(live: LiveGateway, code_url: str, user_agent: str) -> httpx.Response:
    return await live.http.get(code_url, headers={"User-Agent": user_agent}, follow_redirects=False)


async def channel_code_from(live: LiveGateway, code_url: str, channel: str) -> str:
    """Open the aggregate code in the channel's app; the channel's own code its wallet page is for."""
    landing = await open_code(live, code_url, USER_AGENTS[channel])
    assert landing.status_code == 302, landing.text
    location = landing.headers["location"]
    assert location.startswith(f"{live.url}/sim/{channel}/_sim/wallet?")
    return parse_qs(urlsplit(location).query)["code_url"][0]


@pytest.mark.parametrize("channel", CHANNELS)
async def test_opened_in_each_app_and_paid_on_its_wallet_page(live: LiveGateway, channel: str) -> None:
    created = await create_qr(live, "aggregate", 2345)
    assert created["status"] == "AWAITING_PAYMENT" and created["channel"] is None
    assert created["code_url"].startswith(f"{live.url}/q/")

    landing = await open_code(live, created["code_url"], USER_AGENTS[channel])
    assert landing.status_code == 302
    wallet_page = await live.http.get(landing.headers["location"])
    assert wallet_page.status_code == 200 and "23.45" in wallet_page.text and "Pay" in wallet_page.text
    channel_code = parse_qs(urlsplit(landing.headers["location"]).query)["code_url"][0]
    paid_page = await live.http.post(
        f"{live.url}/sim/{channel}/_sim/wallet",
        data={"code_url": channel_code, "customer_id": ""},  # the page's Pay button, as a new customer
    )
    assert paid_page.status_code == 200, paid_page.text

    paid = await wait_status(live, created["order_id"], "PAID")
    assert paid["channel"] == channel, "the order records the app that paid"
    assert ledger_kinds(live, channel, created["order_id"]) == [("charge", 2345)]
    assert [e.type for e in await events(live, created["order_id"])] == ["order.paid"]
    again = await open_code(live, created["code_url"], USER_AGENTS[channel])
    assert again.status_code == 200 and "paid" in again.text


async def test_the_same_app_twice_gets_the_same_channel_order(live: LiveGateway) -> None:
    created = await create_qr(live, "aggregate", 2346)
    first = await channel_code_from(live, created["code_url"], "wechat")
    second = await channel_code_from(live, created["code_url"], "wechat")
    assert first == second
    assert [a.channel for a in await attempts(live, created["order_id"])] == ["wechat"]


async def test_another_app_gets_a_page_naming_the_apps_that_can_pay(live: LiveGateway) -> None:
    created = await create_qr(live, "aggregate", 2347)
    page = await open_code(live, created["code_url"], BROWSER)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert all(app in page.text for app in ("WeChat", "Alipay", "UnionPay")) and "23.47" in page.text
    assert await attempts(live, created["order_id"]) == [], "nothing is created for a browser"


async def test_unknown_and_closed_codes(live: LiveGateway) -> None:
    unknown = await open_code(live, f"{live.url}/q/not-a-real-token", USER_AGENTS["wechat"])
    assert unknown.status_code == 404 and "does not exist" in unknown.text

    created = await create_qr(live, "aggregate", 2348)
    cancelled = await live.terminal.request("POST", f"/v1/payments/{created['order_id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CLOSED"
    closed = await open_code(live, created["code_url"], USER_AGENTS["alipay"])
    assert closed.status_code == 410 and "expired" in closed.text
    assert await attempts(live, created["order_id"]) == []


async def test_expiry_closes_every_app_s_order(live: LiveGateway) -> None:
    created = await create_qr(live, "aggregate", 2349, expires_in_s=60)  # 3 s at the tests' time scale
    wechat_code = await channel_code_from(live, created["code_url"], "wechat")
    await channel_code_from(live, created["code_url"], "unionpay")
    await wait_status(live, created["order_id"], "CLOSED")
    assert [a.status for a in await attempts(live, created["order_id"])] == ["CLOSED", "CLOSED"]
    assert await scan(live, "wechat", wechat_code) == 409


async def test_paid_in_two_apps_the_later_payment_is_refunded(
    live: LiveGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.services.qr_payments")
    created = await create_qr(live, "aggregate", 2350)
    wechat_code = await channel_code_from(live, created["code_url"], "wechat")
    alipay_code = await channel_code_from(live, created["code_url"], "alipay")

    assert await scan(live, "wechat", wechat_code) == 200
    paid = await wait_status(live, created["order_id"], "PAID")
    assert paid["channel"] == "wechat"
    # The Alipay order is closed by the sweep once WeChat paid; an Alipay precreate cannot be closed before its
    # scan, so it is still payable: the customer pays it too.
    assert await scan(live, "alipay", alipay_code) == 200

    refund = await wait_refunded(live, created["order_id"])
    assert refund.reason == "duplicate_payment" and refund.channel == "alipay" and refund.amount_fen == 2350
    assert ledger_kinds(live, "wechat", created["order_id"]) == [("charge", 2350)]
    assert ledger_kinds(live, "alipay", created["order_id"]) == [("charge", 2350), ("refund", 2350)]
    final = await wait_status(live, created["order_id"], "PAID")
    assert final["channel"] == "wechat" and final["refunded_fen"] == 0
    types = [e.type for e in await events(live, created["order_id"])]
    assert types == ["order.paid", "order.duplicate_payment", "refund.succeeded"]
    assert sorted(a.status for a in await attempts(live, created["order_id"])) == ["PAID", "REFUNDED"]
    alerts = [r.getMessage() for r in caplog.records if "duplicate_payment" in r.getMessage()]
    assert len(alerts) == 1 and created["order_id"] in alerts[0]
