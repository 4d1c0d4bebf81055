"""Micropay (付款码) through the adapter against the simulator over HTTP: every auth-code fault, and the money moved."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC

import pytest

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
from adapters.wechat.client import WechatAdapter
from adapters.wechat.simulator import WechatSimulator
from tests.adapters.wechat.conftest import micropay_request
from tests.support.simcontrol import SimControl


async def query_until(adapter: WechatAdapter, out_trade_no: str, status: TradeStatus) -> None:
    """Query until the trade reaches `status` (the password delay is scaled to milliseconds)."""
    for _ in range(100):
        if (await adapter.query(out_trade_no)).status is status:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{out_trade_no} never reached {status}")


async def test_00_pays_at_once(adapter: WechatAdapter, control: SimControl) -> None:
    customer = await control.customer(balance_fen=50_000)
    request = micropay_request(await control.code("00", customer), amount_fen=1_234)

    trade = await adapter.micropay(request)

    assert re.fullmatch(r"1[0-4][0-9]{16}", request.auth_code)  # an 18-digit mainland WeChat code
    assert trade.status is TradeStatus.PAID
    assert trade.amount_fen == 1_234
    assert trade.channel_trade_no is not None and len(trade.channel_trade_no) == 28
    assert trade.payer_id is not None and trade.payer_id.startswith("o")
    assert trade.paid_at is not None and trade.paid_at.tzinfo is UTC
    assert await control.ledger(request.out_trade_no) == [("charge", 1_234)]
    assert await control.balance(customer) == 50_000 - 1_234
    queried = await adapter.query(request.out_trade_no)
    assert (queried.status, queried.channel_status, queried.channel_trade_no) == (
        TradeStatus.PAID,
        "SUCCESS",
        trade.channel_trade_no,
    )


async def test_01_password_then_paid(adapter: WechatAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("01"))

    trade = await adapter.micropay(request)

    assert (trade.status, trade.channel_status) == (TradeStatus.PAYING, "USERPAYING")
    assert await control.ledger(request.out_trade_no) == []
    await query_until(adapter, request.out_trade_no, TradeStatus.PAID)
    assert await control.ledger(request.out_trade_no) == [("charge", request.amount_fen)]


async def test_amount_above_password_threshold_needs_the_password(adapter: WechatAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("00"), amount_fen=100_001)

    assert (await adapter.micropay(request)).status is TradeStatus.PAYING
    await query_until(adapter, request.out_trade_no, TradeStatus.PAID)


async def test_02_password_never_entered_is_reversed(adapter: WechatAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("02"))

    assert (await adapter.micropay(request)).status is TradeStatus.PAYING
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.PAYING
    reversed_ = await adapter.reverse(request.out_trade_no)

    assert reversed_.retry is False
    queried = await adapter.query(request.out_trade_no)
    assert (queried.status, queried.channel_status) == (TradeStatus.REVERSED, "REVOKED")
    assert await control.ledger(request.out_trade_no) == []


async def test_03_systemerror_is_unknown_and_query_finds_it_paid(adapter: WechatAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("03"))

    with pytest.raises(OutcomeUnknown) as raised:
        await adapter.micropay(request)

    assert raised.value.code == "SYSTEMERROR"
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.PAID
    assert await control.ledger(request.out_trade_no) == [("charge", request.amount_fen)]


async def test_04_insufficient_balance_is_declined(adapter: WechatAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("04"))

    with pytest.raises(PaymentDeclined) as raised:
        await adapter.micropay(request)

    assert raised.value.code == "NOTENOUGH"
    queried = await adapter.query(request.out_trade_no)
    assert (queried.status, queried.channel_status) == (TradeStatus.FAILED, "PAYERROR")
    assert await control.ledger(request.out_trade_no) == []


async def test_real_balance_too_low_is_declined(adapter: WechatAdapter, control: SimControl) -> None:
    customer = await control.customer(balance_fen=100)
    request = micropay_request(await control.code("00", customer), amount_fen=101)

    with pytest.raises(PaymentDeclined):
        await adapter.micropay(request)

    assert await control.balance(customer) == 100


async def test_05_expired_code(adapter: WechatAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("05"))

    with pytest.raises(AuthCodeInvalid) as raised:
        await adapter.micropay(request)

    assert raised.value.code == "AUTHCODEEXPIRE"
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.NOT_FOUND
    assert await control.ledger(request.out_trade_no) == []


async def test_06_answer_too_late_is_unavailable_but_charged(
    impatient_adapter: WechatAdapter, adapter: WechatAdapter, control: SimControl
) -> None:
    request = micropay_request(await control.code("06"))

    with pytest.raises(ChannelUnavailable) as raised:
        await impatient_adapter.micropay(request)

    assert raised.value.outcome_unknown
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.PAID
    assert await control.ledger(request.out_trade_no) == [("charge", request.amount_fen)]


async def test_07_first_reverse_asks_to_be_called_again(adapter: WechatAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("07"))
    assert (await adapter.micropay(request)).status is TradeStatus.PAID

    first = await adapter.reverse(request.out_trade_no)
    assert first.retry is True
    assert await control.ledger(request.out_trade_no) == [("charge", request.amount_fen)]
    second = await adapter.reverse(request.out_trade_no)

    assert second.retry is False
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.REVERSED
    assert await control.ledger(request.out_trade_no) == [
        ("charge", request.amount_fen),
        ("reversal", request.amount_fen),
    ]


async def test_08_http_500_is_unavailable_and_nothing_happened(adapter: WechatAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("08"))

    with pytest.raises(ChannelUnavailable) as raised:
        await adapter.micropay(request)

    assert raised.value.code == "HTTP_500"
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.NOT_FOUND
    assert await control.ledger(request.out_trade_no) == []


async def test_09_payment_lands_during_reverse_and_is_given_back(adapter: WechatAdapter, control: SimControl) -> None:
    customer = await control.customer(balance_fen=10_000)
    request = micropay_request(await control.code("09", customer), amount_fen=2_000)

    assert (await adapter.micropay(request)).status is TradeStatus.PAYING
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.PAYING
    assert (await adapter.reverse(request.out_trade_no)).retry is False

    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.REVERSED
    assert await control.ledger(request.out_trade_no) == [("charge", 2_000), ("reversal", 2_000)]
    assert await control.balance(customer) == 10_000


async def test_reused_code_is_refused_and_charged_once(adapter: WechatAdapter, control: SimControl) -> None:
    code = await control.code("00")
    first = micropay_request(code)
    await adapter.micropay(first)

    second = micropay_request(code)
    with pytest.raises(AuthCodeInvalid) as raised:
        await adapter.micropay(second)

    assert raised.value.code == "AUTH_CODE_ERROR"
    assert await control.ledger(second.out_trade_no) == []
    assert await control.ledger(first.out_trade_no) == [("charge", first.amount_fen)]


async def test_code_of_another_channel_is_refused(adapter: WechatAdapter, control: SimControl) -> None:
    request = micropay_request("284736510298347561")  # an Alipay code

    with pytest.raises(AuthCodeInvalid) as raised:
        await adapter.micropay(request)

    assert raised.value.code == "AUTH_CODE_INVALID"
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.NOT_FOUND


async def test_same_out_trade_no_with_another_amount_is_out_trade_no_used(
    adapter: WechatAdapter, control: SimControl
) -> None:
    code = await control.code("00")
    first = micropay_request(code, amount_fen=500)
    await adapter.micropay(first)

    with pytest.raises(OrderStateConflict) as raised:
        await adapter.micropay(micropay_request(code, amount_fen=600, out_trade_no=first.out_trade_no))

    assert raised.value.code == "OUT_TRADE_NO_USED"
    assert await control.ledger(first.out_trade_no) == [("charge", 500)]


async def test_same_request_again_after_payment_is_orderpaid(adapter: WechatAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("00"))
    await adapter.micropay(request)

    with pytest.raises(AlreadyPaid) as raised:
        await adapter.micropay(request)

    assert raised.value.code == "ORDERPAID"
    assert await control.ledger(request.out_trade_no) == [("charge", request.amount_fen)]


async def test_same_request_again_while_paying_is_still_paying(adapter: WechatAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("02"))
    await adapter.micropay(request)

    assert (await adapter.micropay(request)).status is TradeStatus.PAYING


async def test_reversed_order_cannot_be_paid_again(adapter: WechatAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("02"))
    await adapter.micropay(request)
    await adapter.reverse(request.out_trade_no)

    with pytest.raises(OrderStateConflict) as raised:
        await adapter.micropay(request)

    assert raised.value.code == "ORDERREVERSED"


async def test_malformed_amount_is_param_error(adapter: WechatAdapter, control: SimControl) -> None:
    with pytest.raises(RequestRejected) as raised:
        await adapter.micropay(micropay_request(await control.code("00"), amount_fen=0))

    assert raised.value.code == "PARAM_ERROR"


async def test_reverse_of_unknown_order_is_not_found(adapter: WechatAdapter) -> None:
    with pytest.raises(OrderNotFound):
        await adapter.reverse("NO-SUCH-ORDER")


async def test_query_of_unknown_order_is_not_found(adapter: WechatAdapter, simulator: WechatSimulator) -> None:
    trade = await adapter.query("NO-SUCH-ORDER")

    assert (trade.status, trade.channel_status) == (TradeStatus.NOT_FOUND, "ORDERNOTEXIST")
    assert simulator.bank.orders == {}
