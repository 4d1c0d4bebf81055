"""Reconciliation end to end: a day on each channel, moved to yesterday on both sides, matches its real bill with
no difference; each planted difference is found, alone; a day without a bill says so."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from gateway.config import Settings
from gateway.domain.beijing import business_day
from gateway.domain.channels import Channel
from gateway.persistence.tables import Order, Refund
from gateway.services.payments import channel_order_no
from tests.qr.conftest import paid_after_close, wait_refunded
from tests.refunds.conftest import CHANNELS, merchant_headers, pay, settled, terminal_refund
from tests.refunds.test_voids import problem, qr_paid, voided
from tests.settlements.test_settlement import failed_and_reversed
from tests.support.live import LiveGateway, live_gateway

PLANTS = ("missing_here", "missing_at_channel", "amount_differs", "status_differs", "fee_differs")


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveGateway]:
    async with live_gateway(settings) as gateway:
        yield gateway


def yesterday() -> date:
    return business_day(datetime.now(UTC)) - timedelta(days=1)


async def to_yesterday(live: LiveGateway, channel: str, order_id: str) -> None:
    """Move a payment and its refunds a day back, at the channel and here."""
    moved = await live.http.post(
        f"{live.url}/sim/{channel}/_sim/orders/{channel_order_no(order_id)}/backdate", json={"days": 1}
    )
    assert moved.status_code == 200, moved.text
    day = timedelta(days=1)

    def backdate(tx: Any) -> None:
        paid_at, created_at = tx.connection.execute(
            select(Order.paid_at, Order.created_at).where(Order.id == order_id)
        ).one()
        paid_then = None if paid_at is None else paid_at - day  # a failed or reversed payment was never paid
        tx.connection.execute(
            update(Order).where(Order.id == order_id).values(paid_at=paid_then, created_at=created_at - day)
        )
        refunds = tx.connection.execute(select(Refund.id, Refund.finished_at).where(Refund.order_id == order_id))
        for refund_id, finished_at in refunds.all():
            tx.connection.execute(update(Refund).where(Refund.id == refund_id).values(finished_at=finished_at - day))

    await live.runtime.db.transaction(backdate)


async def a_day(live: LiveGateway, channel: str) -> list[str]:
    """Payments, a partial and a full refund, a void, a failed and a reversed payment, and a duplicate payment the
    gateway refunded, all of yesterday; the order ids."""
    kept = await pay(live, channel, 1250)
    refunded = await pay(live, channel, 3000)
    assert (await terminal_refund(live, refunded, 1000)).status_code in (200, 202)
    whole = await qr_paid(live, channel, 800)
    assert (await terminal_refund(live, whole, 800)).status_code in (200, 202)
    undone = await pay(live, channel, 700)
    assert (await voided(live, undone))["status"] == "SUCCEEDED"
    unpaid = await failed_and_reversed(live, channel)
    twice = await paid_after_close(live, channel, 1600)
    assert (await wait_refunded(live, twice)).reason == "paid_after_close"
    for order_id in (refunded, whole):
        await settled(live, order_id)
    orders = [kept, refunded, undone, whole, *unpaid, twice]
    for order_id in orders:
        await to_yesterday(live, channel, order_id)
    return orders


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_clean_day_then_one_planted_difference_of_each_kind(live: LiveGateway, channel: str) -> None:
    kept, refunded, *_ = await a_day(live, channel)
    [clean] = await live.runtime.reconciliations.reconcile_days([yesterday()], Channel(channel))
    assert (clean.status, clean.counts, clean.differences) == ("completed", {}, []), clean.differences
    assert clean.bill_lines >= 4

    sim = f"{live.url}/sim/{channel}/_sim/bill/plants"
    targets = {"missing_at_channel": kept, "amount_differs": refunded, "status_differs": kept, "fee_differs": refunded}
    for kind in PLANTS:
        assert (await live.http.delete(sim)).status_code == 200
        body: dict[str, Any] = {"date": yesterday().isoformat(), "kind": kind}
        if kind in targets:
            body["out_trade_no"] = channel_order_no(targets[kind])
        planted = await live.http.post(sim, json=body)
        assert planted.status_code == 201, planted.text
        [found] = await live.runtime.reconciliations.reconcile_days([yesterday()], Channel(channel))
        assert found.counts == {kind: 1}, (kind, found.differences)
        [difference] = found.differences
        assert difference["todo"]
        if kind in targets:
            assert difference["order_id"] == targets[kind]


async def test_the_merchant_api_and_days_without_a_bill(live: LiveGateway) -> None:
    headers = merchant_headers(live)
    url = f"{live.url}/v1/reconciliations"
    quiet = await live.http.post(url, json={"date": (yesterday() - timedelta(days=3)).isoformat()}, headers=headers)
    assert quiet.status_code == 201, quiet.text
    statuses = {r["channel"]: r["status"] for r in quiet.json()["reconciliations"]}
    assert set(statuses) == set(CHANNELS)
    assert statuses["wechat"] == "no_bill"  # WeChat has no bill for a day without trades
    wechat = next(r for r in quiet.json()["reconciliations"] if r["channel"] == "wechat")
    assert wechat["detail"].startswith("20002")  # No Bill Exist
    first = quiet.json()["reconciliations"][0]
    again = await live.http.get(f"{url}/{first['reconciliation_id']}", headers=headers)
    assert again.status_code == 200 and again.json() == first

    # The channel fails to answer: the day is `unavailable`, with why, and the next try reads the bill.
    fault = {"operation": "download_bill", "fault": "http_500", "times": 1}
    assert (await live.http.post(f"{live.url}/sim/alipay/_sim/faults", json=fault)).status_code == 201
    day = {"date": yesterday().isoformat(), "channel": "alipay"}
    [failed] = (await live.http.post(url, json=day, headers=headers)).json()["reconciliations"]
    assert failed["status"] == "unavailable" and failed["detail"]
    [retried] = (await live.http.post(url, json=day, headers=headers)).json()["reconciliations"]
    assert (retried["status"], retried["detail"]) == ("completed", None)

    today = business_day(datetime.now(UTC))
    problem(await live.http.post(url, json={"date": today.isoformat()}, headers=headers), 422, "future_date")
    problem(await live.http.post(url, json={"date": "2026-02-30"}, headers=headers), 422, "validation_error")
    for ancient in ("0001-01-01", "1999-12-31"):
        problem(await live.http.post(url, json={"date": ancient}, headers=headers), 422, "date_out_of_range")
    problem(
        await live.http.post(url, json={"date": "2026-12-01", "channel": "paypal"}, headers=headers),
        422,
        "validation_error",
    )
    problem(await live.http.get(f"{url}/rcn_nothing", headers=headers), 404, "reconciliation_not_found")


async def test_money_kept_for_an_order_that_failed_here_is_refunded_once(live: LiveGateway) -> None:
    order_id = await pay(live, "alipay", 1500)
    await to_yesterday(live, "alipay", order_id)

    def lose_the_answer(tx: Any) -> None:  # as if the payment's result had been lost and the order failed
        tx.connection.execute(update(Order).where(Order.id == order_id).values(status="FAILED"))

    await live.runtime.db.transaction(lose_the_answer)
    for _ in range(2):  # a second run repairs nothing twice
        [found] = await live.runtime.reconciliations.reconcile_days([yesterday()], Channel.ALIPAY)
        [difference] = found.differences
        assert (difference["kind"], difference["order_id"]) == ("status_differs", order_id)
        assert difference["repair"].startswith("the money stayed for an order that is FAILED: refunded as rfd_")
    found_refunds = await settled(live, order_id)
    assert [(r["kind"], r["status"]) for r in found_refunds["items"]] == [("paid_after_close", "SUCCEEDED")]
    assert [e["kind"] for e in await live.ledger("alipay", order_id)] == ["charge", "refund"]
