"""NATIVE orders (C-scan-B) over HTTP: unifiedorder, the scan, signed notifications and their retries, close."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from adapters.protocol import AlreadyPaid, OrderNotFound, OrderStateConflict, PrecreateRequest, TradeStatus
from adapters.simcore.notifier import DeliveryAttempt
from adapters.wechat.client import WechatAdapter
from adapters.wechat.simulator import WechatSimulator
from tests.support.simcontrol import NotifyReceiver, SimControl, order_no


def native_request(notify_url: str, amount_fen: int = 2_500) -> PrecreateRequest:
    return PrecreateRequest(
        out_trade_no=order_no("N"),
        amount_fen=amount_fen,
        description="QR shop - lunch",
        notify_url=notify_url,
        expires_at=datetime.now(UTC) + timedelta(minutes=10),
    )


async def attempts(simulator: WechatSimulator, count: int) -> list[DeliveryAttempt]:
    """The simulator's delivery attempts once there are `count` of them (bounded wait)."""
    for _ in range(300):
        if len(simulator.notifier.attempts) >= count:
            return simulator.notifier.attempts
        await asyncio.sleep(0.01)
    raise AssertionError(f"{len(simulator.notifier.attempts)} delivery attempts, expected {count}")


async def test_precreate_scan_notify_and_query(
    adapter: WechatAdapter, control: SimControl, receiver: NotifyReceiver
) -> None:
    request = native_request(receiver.url)

    created = await adapter.precreate(request)

    assert created.code_url.startswith("weixin://wxpay/bizpayurl?pr=")
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.WAITING
    customer = await control.customer(balance_fen=10_000)
    assert (await control.scan(created.code_url, customer)).status_code == 200

    await receiver.wait(1)
    notification = receiver.received[0]
    assert (notification.trade.status, notification.trade.out_trade_no, notification.trade.amount_fen) == (
        TradeStatus.PAID,
        request.out_trade_no,
        2_500,
    )
    assert notification.trade.paid_at is not None and notification.trade.paid_at.tzinfo is UTC
    assert notification.raw["trade_type"] == "NATIVE"
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.PAID
    assert await control.ledger(request.out_trade_no) == [("charge", 2_500)]
    assert await control.balance(customer) == 7_500


async def test_same_unifiedorder_again_gives_the_same_code(adapter: WechatAdapter, receiver: NotifyReceiver) -> None:
    request = native_request(receiver.url)

    first = await adapter.precreate(request)
    again = await adapter.precreate(request)

    assert again.code_url == first.code_url


async def test_unifiedorder_with_another_amount_is_out_trade_no_used(
    adapter: WechatAdapter, receiver: NotifyReceiver
) -> None:
    request = native_request(receiver.url)
    await adapter.precreate(request)

    with pytest.raises(OrderStateConflict) as raised:
        await adapter.precreate(dataclasses.replace(request, amount_fen=9_999))

    assert raised.value.code == "OUT_TRADE_NO_USED"


async def test_unifiedorder_for_a_paid_order_is_orderpaid(
    adapter: WechatAdapter, control: SimControl, receiver: NotifyReceiver
) -> None:
    request = native_request(receiver.url)
    await control.scan((await adapter.precreate(request)).code_url)

    with pytest.raises(AlreadyPaid):
        await adapter.precreate(request)


async def test_notification_retried_until_acknowledged(
    adapter: WechatAdapter, control: SimControl, receiver: NotifyReceiver, simulator: WechatSimulator
) -> None:
    receiver.answers = [False, False]
    request = native_request(receiver.url)

    await control.scan((await adapter.precreate(request)).code_url)

    delivered = await attempts(simulator, 3)
    assert [attempt.acknowledged for attempt in delivered] == [False, False, True]
    assert len(receiver.received) == 3
    assert {notification.trade.out_trade_no for notification in receiver.received} == {request.out_trade_no}


async def test_notification_with_amount_ending_10_is_duplicated(
    adapter: WechatAdapter, control: SimControl, receiver: NotifyReceiver, simulator: WechatSimulator
) -> None:
    request = native_request(receiver.url, amount_fen=1_010)

    await control.scan((await adapter.precreate(request)).code_url)

    delivered = await attempts(simulator, 2)
    assert [attempt.acknowledged for attempt in delivered] == [True, True]
    assert len(receiver.received) == 2
    assert await control.ledger(request.out_trade_no) == [("charge", 1_010)]


async def test_notification_with_amount_ending_11_is_lost_and_query_finds_payment(
    adapter: WechatAdapter, control: SimControl, receiver: NotifyReceiver, simulator: WechatSimulator
) -> None:
    request = native_request(receiver.url, amount_fen=1_011)

    await control.scan((await adapter.precreate(request)).code_url)

    assert simulator.notifier.attempts == []
    assert receiver.received == []
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.PAID


async def test_notification_with_amount_ending_12_is_delayed_but_arrives(
    adapter: WechatAdapter, control: SimControl, receiver: NotifyReceiver, simulator: WechatSimulator
) -> None:
    simulator.notifier.ladder = (50.0,)  # 0.5 s at this time scale: long enough to look before it arrives
    request = native_request(receiver.url, amount_fen=1_012)

    await control.scan((await adapter.precreate(request)).code_url)

    assert receiver.received == []  # the first attempt waits one step of the ladder
    delivered = await attempts(simulator, 1)
    assert [attempt.acknowledged for attempt in delivered] == [True]
    assert len(receiver.received) == 1


async def test_tampered_notification_is_refused_and_retried(
    adapter: WechatAdapter, control: SimControl, receiver: NotifyReceiver, simulator: WechatSimulator
) -> None:
    """A receiver that cannot verify the notification answers FAIL, so WeChat keeps trying."""
    receiver.parse = lambda body, content_type: adapter.parse_notification(body.replace(b"NATIVE", b"JSAPI"), None)
    request = native_request(receiver.url)

    await control.scan((await adapter.precreate(request)).code_url)

    delivered = await attempts(simulator, 2)
    assert receiver.rejected >= 2
    assert not any(attempt.acknowledged for attempt in delivered)
    assert receiver.received == []


async def test_close_unpaid_order(adapter: WechatAdapter, control: SimControl, receiver: NotifyReceiver) -> None:
    request = native_request(receiver.url)
    created = await adapter.precreate(request)

    await adapter.close(request.out_trade_no)
    await adapter.close(request.out_trade_no)  # WeChat says ORDERCLOSED: the order is closed all the same

    queried = await adapter.query(request.out_trade_no)
    assert (queried.status, queried.channel_status) == (TradeStatus.CLOSED, "CLOSED")
    assert (await control.scan(created.code_url)).status_code == 409
    assert await control.ledger(request.out_trade_no) == []
    with pytest.raises(OrderStateConflict):
        await adapter.precreate(request)


async def test_close_paid_order_is_orderpaid(
    adapter: WechatAdapter, control: SimControl, receiver: NotifyReceiver
) -> None:
    request = native_request(receiver.url)
    await control.scan((await adapter.precreate(request)).code_url)

    with pytest.raises(AlreadyPaid) as raised:
        await adapter.close(request.out_trade_no)

    assert raised.value.code == "ORDERPAID"
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.PAID


async def test_close_unknown_order_is_not_found(adapter: WechatAdapter) -> None:
    with pytest.raises(OrderNotFound):
        await adapter.close("NO-SUCH-ORDER")


async def test_order_expires_at_time_expire(
    adapter: WechatAdapter, control: SimControl, receiver: NotifyReceiver, simulator: WechatSimulator
) -> None:
    request = native_request(receiver.url)
    await adapter.precreate(request)
    simulator.bank.orders[request.out_trade_no].expires_at = datetime.now(UTC)  # as if the time had come

    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.CLOSED
