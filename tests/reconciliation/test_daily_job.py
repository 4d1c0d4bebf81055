"""The daily reconciliation: one job for the gateway, due at the set Beijing time, that reconciles yesterday on
every channel and tells each merchant's webhook `reconciliation.completed` with the counts, once per run."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gateway.config import Settings
from gateway.domain.beijing import BEIJING, next_beijing_time
from gateway.persistence import jobs
from gateway.persistence.tables import Job
from gateway.services.payments import channel_order_no
from gateway.services.reconciliations import DAILY_RECONCILIATION_JOB
from gateway.services.webhooks import SIGNATURE_HEADER, verify_webhook_signature
from tests.realtime.test_webhooks import Receiver, register, serve_receiver, settled
from tests.reconciliation.test_reconcile_live import to_yesterday, yesterday
from tests.refunds.conftest import CHANNELS, pay
from tests.support.live import LiveGateway, live_gateway

DAILY_AT = time(9, 45)


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[LiveGateway]:
    async with live_gateway(settings, reconcile_daily_at=DAILY_AT) as gateway:
        yield gateway


def daily_jobs(tx: Any) -> list[tuple[Any, ...]]:
    query = select(Job.order_id, Job.due_at).where(Job.kind == DAILY_RECONCILIATION_JOB)
    return [tuple(row) for row in tx.connection.execute(query).all()]


def test_the_next_run_is_the_next_time_beijing_shows_the_hour() -> None:
    nine_forty_five = time(9, 45)
    before = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
    assert next_beijing_time(before, nine_forty_five) == datetime(2026, 12, 3, 1, 45, tzinfo=UTC)
    at = datetime(2026, 12, 3, 1, 45, tzinfo=UTC)  # 09:45 itself: the next is tomorrow's
    assert next_beijing_time(at, nine_forty_five) == datetime(2026, 12, 4, 1, 45, tzinfo=UTC)
    late = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)  # 04:00 on 1 January in Beijing
    assert next_beijing_time(late, nine_forty_five) == datetime(2027, 1, 1, 1, 45, tzinfo=UTC)


async def test_one_job_reconciles_yesterday_and_tells_the_merchant_once(live: LiveGateway) -> None:
    [(order_id, due_at)] = await live.runtime.db.transaction(daily_jobs)
    now = datetime.now(UTC)
    assert order_id is None and now < due_at <= now + timedelta(days=1)
    assert due_at.astimezone(BEIJING).time() == DAILY_AT
    await live.runtime.reconciliations.schedule_daily()  # another instance starting: still the one job
    assert await live.runtime.db.transaction(daily_jobs) == [(None, due_at)]

    paid = await pay(live, "alipay", 1250)
    await to_yesterday(live, "alipay", paid)
    plants = f"{live.url}/sim/alipay/_sim/bill/plants"
    planted = await live.http.post(plants, json={"date": yesterday().isoformat(), "kind": "missing_here"})
    assert planted.status_code == 201, planted.text
    planted = await live.http.post(
        plants,
        json={"date": yesterday().isoformat(), "kind": "amount_differs", "out_trade_no": channel_order_no(paid)},
    )
    assert planted.status_code == 201, planted.text

    receiver = Receiver([200])
    async with await serve_receiver(receiver) as receiver_url:
        registered = await register(live, f"{receiver_url}/notify")
        assert registered.status_code == 200, registered.text
        await live.runtime.db.transaction(jobs.schedule, DAILY_RECONCILIATION_JOB, None, datetime.now(UTC))
        live.runtime.worker.wake()
        for _ in range(600):
            if receiver.received:
                break
            await asyncio.sleep(0.05)
        [(headers, body)] = receiver.received
        [delivery] = await settled(live)

    assert verify_webhook_signature(registered.json()["secret"], headers[SIGNATURE_HEADER.lower()], body)
    event = json.loads(body)
    assert (event["type"], event["order_id"], event["terminal_id"]) == ("reconciliation.completed", None, None)
    assert event["data"]["date"] == yesterday().isoformat()
    by_channel = {summary["channel"]: summary for summary in event["data"]["reconciliations"]}
    assert set(by_channel) == set(CHANNELS)
    assert by_channel["alipay"]["status"] == "completed"
    assert by_channel["alipay"]["counts"] == {"missing_here": 1, "amount_differs": 1}
    assert by_channel["unionpay"]["counts"] == {}
    shown = await live.http.get(
        f"{live.url}/v1/reconciliations/{by_channel['alipay']['reconciliation_id']}",
        headers={"X-API-Key": live.credentials["api_key"]},
    )
    assert shown.status_code == 200 and len(shown.json()["differences"]) == 2
    assert (delivery["event"], delivery["order_id"], delivery["status"]) == (
        "reconciliation.completed",
        None,
        "delivered",
    )

    # The job moved on to tomorrow's run: the same one row, told once.
    [(order_id, moved_to)] = await live.runtime.db.transaction(daily_jobs)
    assert order_id is None and moved_to > datetime.now(UTC) and moved_to.astimezone(BEIJING).time() == DAILY_AT
    assert len(receiver.received) == 1


async def test_turned_off_there_is_no_daily_job(settings: Settings) -> None:
    async with live_gateway(settings, reconcile_daily=False) as live:
        assert await live.runtime.db.transaction(daily_jobs) == []
