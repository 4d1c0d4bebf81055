"""alipay.trade.precreate (C-scan-B) over real HTTP: the QR, the scan, signed notifications and their faults."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from adapters.alipay.client import AlipayAdapter
from adapters.alipay.simulator import AlipaySimulator, adapter_config
from adapters.protocol import AlreadyPaid, OrderNotFound, OrderStateConflict, TradeStatus
from tests.adapters.alipay.conftest import precreate_request, served_simulator
from tests.support.simcontrol import NotifyReceiver, SimControl, eventually, order_no


async def test_qr_code_is_alipays_and_the_trade_does_not_exist_before_the_scan(
    adapter: AlipayAdapter, simulator: AlipaySimulator, receiver: NotifyReceiver
) -> None:
    request = precreate_request(receiver.url)
    result = await adapter.precreate(request)
    assert result.code_url.startswith("https://qr.alipay.com/")
    assert simulator.order_for_code_url(result.code_url) == request.out_trade_no
    queried = await adapter.query(request.out_trade_no)
    assert (queried.status, queried.channel_status) == (TradeStatus.NOT_FOUND, "ACQ.TRADE_NOT_EXIST")
    with pytest.raises(OrderNotFound):
        await adapter.close(request.out_trade_no)


async def test_repeated_precreate_returns_the_same_qr(adapter: AlipayAdapter, receiver: NotifyReceiver) -> None:
    request = precreate_request(receiver.url)
    assert (await adapter.precreate(request)).code_url == (await adapter.precreate(request)).code_url


async def test_precreate_with_another_amount_is_inconsistent(adapter: AlipayAdapter, receiver: NotifyReceiver) -> None:
    out_trade_no = order_no("P")
    await adapter.precreate(precreate_request(receiver.url, 2_500, out_trade_no))
    with pytest.raises(OrderStateConflict) as raised:
        await adapter.precreate(precreate_request(receiver.url, 2_600, out_trade_no))
    assert raised.value.code == "ACQ.CONTEXT_INCONSISTENT"


async def test_scan_pays_notifies_and_query_agrees(
    adapter: AlipayAdapter, control: SimControl, receiver: NotifyReceiver
) -> None:
    request = precreate_request(receiver.url)
    result = await adapter.precreate(request)
    customer = await control.customer(balance_fen=10_000)
    scanned = await control.scan(result.code_url, customer)
    assert scanned.json() == {"outcome": "paid"}
    await receiver.wait(1)
    notification = receiver.received[0]
    assert notification.app_id == adapter._config.app_id
    assert notification.trade.status is TradeStatus.PAID
    assert notification.trade.out_trade_no == request.out_trade_no
    assert notification.trade.amount_fen == 2_500
    assert notification.raw["notify_type"] == "trade_status_sync"
    assert notification.raw["trade_status"] == "TRADE_SUCCESS"
    queried = await adapter.query(request.out_trade_no)
    assert queried.status is TradeStatus.PAID
    assert queried.channel_trade_no == notification.trade.channel_trade_no
    assert queried.payer_id == notification.trade.payer_id
    assert await control.ledger(request.out_trade_no) == [("charge", 2_500)]
    assert await control.balance(customer) == 7_500
    # A repeat of the paid order is refused, and the QR cannot be paid twice.
    with pytest.raises(AlreadyPaid):
        await adapter.precreate(request)
    assert (await control.scan(result.code_url)).status_code == 409
    assert await control.ledger(request.out_trade_no) == [("charge", 2_500)]


async def test_paid_trade_cannot_be_closed(
    adapter: AlipayAdapter, control: SimControl, receiver: NotifyReceiver
) -> None:
    request = precreate_request(receiver.url)
    await control.scan((await adapter.precreate(request)).code_url)
    with pytest.raises(OrderStateConflict) as raised:
        await adapter.close(request.out_trade_no)
    assert raised.value.code == "ACQ.TRADE_STATUS_ERROR"


async def test_notification_is_retried_until_success(
    var_dir: Path, http: httpx.AsyncClient, receiver: NotifyReceiver
) -> None:
    # time_scale 0.0005 turns Alipay's 4 min, 10 min ladder into 0.12 s, 0.3 s.
    async with served_simulator(var_dir, time_scale=0.0005) as (simulator, url):
        adapter = AlipayAdapter(adapter_config(var_dir, url), http)
        receiver.answers = [False, False]  # "fail" twice, then "success"
        request = precreate_request(receiver.url)
        await SimControl(http, url).scan((await adapter.precreate(request)).code_url)
        await receiver.wait(3)
        await asyncio.sleep(0.5)  # longer than the next step: no fourth delivery may follow
        attempts = simulator.notifier.attempts
        assert [attempt.acknowledged for attempt in attempts] == [False, False, True]
        assert len(receiver.received) == 3
        notify_ids = {notification.raw["notify_id"] for notification in receiver.received}
        assert len(notify_ids) == 3  # each attempt is built and signed afresh


def test_only_the_exact_text_success_acknowledges(simulator: AlipaySimulator) -> None:
    customer = simulator.bank.create_customer()
    expires_at = datetime.now(UTC) + timedelta(minutes=5)
    _, order = simulator.bank.precreate(order_no("P"), 100, "fp", "http://127.0.0.1:9/notify", expires_at)
    assert order is not None
    simulator.bank.pay_precreated(order.out_trade_no, customer.customer_id)
    notification = simulator.payment_notification(order)
    assert notification.is_ack(200, b"success")
    for status, body in [(200, b"SUCCESS"), (200, b"success\n"), (200, b"fail"), (500, b"success"), (200, b"")]:
        assert not notification.is_ack(status, body)


async def test_amount_10_duplicates_the_notification(
    adapter: AlipayAdapter, control: SimControl, receiver: NotifyReceiver
) -> None:
    request = precreate_request(receiver.url, amount_fen=2_510)
    await control.scan((await adapter.precreate(request)).code_url)
    await receiver.wait(2)
    assert [n.trade.out_trade_no for n in receiver.received] == [request.out_trade_no] * 2
    assert await control.ledger(request.out_trade_no) == [("charge", 2_510)]


async def test_amount_11_loses_the_notification_query_finds_the_payment(
    adapter: AlipayAdapter, control: SimControl, receiver: NotifyReceiver, simulator: AlipaySimulator
) -> None:
    request = precreate_request(receiver.url, amount_fen=2_511)
    await control.scan((await adapter.precreate(request)).code_url)
    await asyncio.sleep(0.2)
    assert receiver.received == []
    assert simulator.notifier.attempts == []
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.PAID


async def test_amount_12_delays_the_first_notification(
    var_dir: Path, http: httpx.AsyncClient, receiver: NotifyReceiver
) -> None:
    async with served_simulator(var_dir, time_scale=0.0005) as (simulator, url):
        adapter = AlipayAdapter(adapter_config(var_dir, url), http)
        request = precreate_request(receiver.url, amount_fen=2_512)
        await SimControl(http, url).scan((await adapter.precreate(request)).code_url)
        # The first attempt waits one ladder step (240 s x 0.0005 = 0.12 s); the payment is visible at once.
        assert receiver.received == []
        assert (await adapter.query(request.out_trade_no)).status is TradeStatus.PAID
        await receiver.wait(1)
        await eventually(lambda: bool(simulator.notifier.attempts))
        assert [a.acknowledged for a in simulator.notifier.attempts] == [True]
        assert len(receiver.received) == 1
