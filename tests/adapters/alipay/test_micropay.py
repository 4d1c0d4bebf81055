"""alipay.trade.pay (bar code) against the simulator over real HTTP: every auth-code fault, cancel and the ledger."""

from __future__ import annotations

import asyncio

import pytest

from adapters.alipay.client import AlipayAdapter
from adapters.alipay.simulator import AlipaySimulator
from adapters.alipay.wire import AUTH_CODE_PATTERN
from adapters.protocol import (
    AlreadyPaid,
    AuthCodeInvalid,
    ChannelUnavailable,
    OrderNotFound,
    OrderStateConflict,
    OutcomeUnknown,
    PaymentDeclined,
    RequestRejected,
    TradeStatus,
)
from tests.adapters.alipay.conftest import micropay_request
from tests.support.simcontrol import SimControl, order_no


async def test_issued_codes_look_like_alipay_codes(control: SimControl) -> None:
    code = await control.code("00")
    assert AUTH_CODE_PATTERN.fullmatch(code)
    assert len(code) == 18 and 25 <= int(code[:2]) <= 30


async def test_00_pays_at_once(adapter: AlipayAdapter, control: SimControl, simulator: AlipaySimulator) -> None:
    customer = await control.customer(balance_fen=10_000)
    request = micropay_request(await control.code("00", customer), amount_fen=1_234)
    result = await adapter.micropay(request)
    assert result.status is TradeStatus.PAID
    assert result.amount_fen == 1_234
    assert result.channel_trade_no == simulator.bank.orders[request.out_trade_no].trade_no
    assert result.payer_id is not None and result.payer_id.startswith("2088")
    assert result.paid_at is not None and result.paid_at.tzinfo is not None
    assert await control.ledger(request.out_trade_no) == [("charge", 1_234)]
    assert await control.balance(customer) == 10_000 - 1_234


async def test_01_password_then_paid_on_query(adapter: AlipayAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("01"))
    result = await adapter.micropay(request)
    assert result.status is TradeStatus.PAYING
    assert result.channel_status == "10003"
    assert await control.ledger(request.out_trade_no) == []
    await asyncio.sleep(0.1)  # the password delay is 5 s x time_scale 0.01
    queried = await adapter.query(request.out_trade_no)
    assert queried.status is TradeStatus.PAID
    assert queried.channel_status == "TRADE_SUCCESS"
    assert await control.ledger(request.out_trade_no) == [("charge", 1_234)]


async def test_amount_above_the_password_threshold_needs_the_password(
    adapter: AlipayAdapter, control: SimControl
) -> None:
    result = await adapter.micropay(micropay_request(await control.code("00"), amount_fen=100_001))
    assert result.status is TradeStatus.PAYING


async def test_02_password_timeout_then_cancel_closes(adapter: AlipayAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("02"))
    assert (await adapter.micropay(request)).status is TradeStatus.PAYING
    queried = await adapter.query(request.out_trade_no)
    assert (queried.status, queried.channel_status) == (TradeStatus.WAITING, "WAIT_BUYER_PAY")
    reversed_ = await adapter.reverse(request.out_trade_no)
    assert (reversed_.retry, reversed_.action) == (False, "close")
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.CLOSED
    assert await control.ledger(request.out_trade_no) == []


async def test_03_unknown_then_paid_on_query(adapter: AlipayAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("03"))
    with pytest.raises(OutcomeUnknown) as raised:
        await adapter.micropay(request)
    assert type(raised.value) is OutcomeUnknown
    assert raised.value.code == "isp.unknow-error"
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.PAID
    assert await control.ledger(request.out_trade_no) == [("charge", 1_234)]


async def test_04_insufficient_balance(adapter: AlipayAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("04"))
    with pytest.raises(PaymentDeclined) as raised:
        await adapter.micropay(request)
    assert raised.value.code == "ACQ.BUYER_BALANCE_NOT_ENOUGH"
    assert await control.ledger(request.out_trade_no) == []


async def test_a_real_shortfall_is_declined_too(adapter: AlipayAdapter, control: SimControl) -> None:
    customer = await control.customer(balance_fen=500)
    with pytest.raises(PaymentDeclined):
        await adapter.micropay(micropay_request(await control.code("00", customer), amount_fen=501))
    assert await control.balance(customer) == 500


async def test_05_expired_code(adapter: AlipayAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("05"))
    with pytest.raises(AuthCodeInvalid) as raised:
        await adapter.micropay(request)
    assert raised.value.code == "ACQ.PAYMENT_AUTH_CODE_INVALID"
    assert await control.ledger(request.out_trade_no) == []


async def test_06_http_timeout_charged_and_found_by_query(
    impatient_adapter: AlipayAdapter, adapter: AlipayAdapter, control: SimControl
) -> None:
    request = micropay_request(await control.code("06"))
    with pytest.raises(ChannelUnavailable) as raised:
        await impatient_adapter.micropay(request)
    assert raised.value.code == "timeout"
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.PAID
    assert await control.ledger(request.out_trade_no) == [("charge", 1_234)]


async def test_07_first_cancel_asks_for_a_retry_second_refunds(adapter: AlipayAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("07"))
    assert (await adapter.micropay(request)).status is TradeStatus.PAID
    first = await adapter.reverse(request.out_trade_no)
    assert first.retry is True
    assert await control.ledger(request.out_trade_no) == [("charge", 1_234)]
    second = await adapter.reverse(request.out_trade_no)
    assert (second.retry, second.action) == (False, "refund")
    assert await control.ledger(request.out_trade_no) == [("charge", 1_234), ("reversal", 1_234)]
    # Cancel is idempotent: a third call moves no money.
    assert (await adapter.reverse(request.out_trade_no)).retry is False
    assert len(await control.ledger(request.out_trade_no)) == 2


async def test_08_http_500_nothing_happened(adapter: AlipayAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("08"))
    with pytest.raises(ChannelUnavailable) as raised:
        await adapter.micropay(request)
    assert raised.value.code == "http-500"
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.NOT_FOUND
    with pytest.raises(OrderNotFound):
        await adapter.reverse(request.out_trade_no)
    assert await control.ledger(request.out_trade_no) == []


async def test_09_payment_lands_during_cancel_and_is_refunded(adapter: AlipayAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("09"))
    assert (await adapter.micropay(request)).status is TradeStatus.PAYING
    await asyncio.sleep(0.1)
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.WAITING
    result = await adapter.reverse(request.out_trade_no)
    assert (result.retry, result.action) == (False, "refund")
    assert await control.ledger(request.out_trade_no) == [("charge", 1_234), ("reversal", 1_234)]
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.REFUNDED


async def test_reused_code_is_refused(adapter: AlipayAdapter, control: SimControl) -> None:
    code = await control.code("00")
    await adapter.micropay(micropay_request(code))
    second = micropay_request(code)
    with pytest.raises(AuthCodeInvalid):
        await adapter.micropay(second)
    assert await control.ledger(second.out_trade_no) == []


async def test_code_of_another_channel_is_refused(adapter: AlipayAdapter, control: SimControl) -> None:
    request = micropay_request("134567890123456700")  # a WeChat code
    with pytest.raises(AuthCodeInvalid):
        await adapter.micropay(request)
    assert await control.ledger(request.out_trade_no) == []


async def test_retry_of_a_paid_order_says_already_paid(adapter: AlipayAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("00"))
    await adapter.micropay(request)
    with pytest.raises(AlreadyPaid) as raised:
        await adapter.micropay(request)
    assert raised.value.code == "ACQ.TRADE_HAS_SUCCESS"
    assert await control.ledger(request.out_trade_no) == [("charge", 1_234)]


async def test_same_out_trade_no_with_another_amount_is_inconsistent(
    adapter: AlipayAdapter, control: SimControl
) -> None:
    out_trade_no = order_no()
    await adapter.micropay(micropay_request(await control.code("00"), 1_000, out_trade_no))
    with pytest.raises(OrderStateConflict) as raised:
        await adapter.micropay(micropay_request(await control.code("00"), 2_000, out_trade_no))
    assert raised.value.code == "ACQ.CONTEXT_INCONSISTENT"
    assert await control.ledger(out_trade_no) == [("charge", 1_000)]


async def test_retry_of_a_cancelled_order_says_closed(adapter: AlipayAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("02"))
    await adapter.micropay(request)
    await adapter.reverse(request.out_trade_no)
    with pytest.raises(OrderStateConflict) as raised:
        await adapter.micropay(request)
    assert raised.value.code == "ACQ.TRADE_HAS_CLOSE"


@pytest.mark.parametrize("amount_fen", [0, 10_000_000_001])
async def test_amounts_outside_alipay_range_never_leave_the_adapter(
    adapter: AlipayAdapter, control: SimControl, amount_fen: int
) -> None:
    request = micropay_request(await control.code("00"), amount_fen=amount_fen)
    with pytest.raises(RequestRejected):
        await adapter.micropay(request)
    assert await control.ledger(request.out_trade_no) == []


async def test_close_a_waiting_bar_code_trade(adapter: AlipayAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("02"))
    await adapter.micropay(request)
    await adapter.close(request.out_trade_no)
    queried = await adapter.query(request.out_trade_no)
    assert (queried.status, queried.channel_status) == (TradeStatus.CLOSED, "TRADE_CLOSED")
    with pytest.raises(OrderStateConflict) as raised:
        await adapter.close(request.out_trade_no)
    assert raised.value.code == "ACQ.TRADE_STATUS_ERROR"


async def test_close_a_paid_trade_is_a_status_error(adapter: AlipayAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("00"))
    await adapter.micropay(request)
    with pytest.raises(OrderStateConflict) as raised:
        await adapter.close(request.out_trade_no)
    assert raised.value.code == "ACQ.TRADE_STATUS_ERROR"
    assert await control.ledger(request.out_trade_no) == [("charge", 1_234)]
