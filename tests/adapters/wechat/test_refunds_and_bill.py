"""Refunds, refund queries and reverse after refund over HTTP, checked against the ledger (bills: test_bills)."""

from __future__ import annotations

import pytest

from adapters.protocol import (
    OrderNotFound,
    RefundRejected,
    RefundRequest,
    RefundStatus,
    RequestRejected,
    TradeStatus,
)
from adapters.wechat.client import WechatAdapter
from tests.adapters.refund_support import queried_until_final, settled_ledger
from tests.adapters.wechat.conftest import micropay_request
from tests.support.simcontrol import SimControl


async def paid_order(adapter: WechatAdapter, control: SimControl, amount_fen: int = 1_000) -> str:
    request = micropay_request(await control.code("00"), amount_fen=amount_fen)
    assert (await adapter.micropay(request)).status is TradeStatus.PAID
    return request.out_trade_no


def refund_of(out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int = 1_000) -> RefundRequest:
    return RefundRequest(out_trade_no, out_refund_no, total_fen, refund_fen, reason="customer changed mind")


async def test_partial_refunds_then_query(adapter: WechatAdapter, control: SimControl) -> None:
    out_trade_no = await paid_order(adapter, control)

    first = await adapter.refund(refund_of(out_trade_no, "R1", 300))
    second = await adapter.refund(refund_of(out_trade_no, "R2", 700))

    assert (first.status, first.refund_fen) == (RefundStatus.PROCESSING, 300)  # accepted, not finished
    assert first.channel_refund_no and first.channel_refund_no != second.channel_refund_no
    queried = await queried_until_final(adapter, out_trade_no, "R2")
    assert (queried.status, queried.refund_fen, queried.channel_refund_no) == (
        RefundStatus.SUCCESS,
        700,
        second.channel_refund_no,
    )
    trade = await adapter.query(out_trade_no)
    assert (trade.status, trade.channel_status) == (TradeStatus.REFUNDED, "REFUND")
    assert await settled_ledger(control, out_trade_no) == [("charge", 1_000), ("refund", 300), ("refund", 700)]


async def test_repeated_refund_number_refunds_once(adapter: WechatAdapter, control: SimControl) -> None:
    out_trade_no = await paid_order(adapter, control)

    first = await adapter.refund(refund_of(out_trade_no, "R1", 400))
    again = await adapter.refund(refund_of(out_trade_no, "R1", 400))

    assert again.channel_refund_no == first.channel_refund_no
    assert await settled_ledger(control, out_trade_no) == [("charge", 1_000), ("refund", 400)]


async def test_repeated_refund_number_with_another_amount_is_refused(
    adapter: WechatAdapter, control: SimControl
) -> None:
    out_trade_no = await paid_order(adapter, control)
    await adapter.refund(refund_of(out_trade_no, "R1", 400))

    with pytest.raises(RefundRejected) as raised:
        await adapter.refund(refund_of(out_trade_no, "R1", 500))

    assert raised.value.code == "REFUND_FEE_MISMATCH"
    assert await settled_ledger(control, out_trade_no) == [("charge", 1_000), ("refund", 400)]


async def test_refund_beyond_paid_amount_is_refused(adapter: WechatAdapter, control: SimControl) -> None:
    out_trade_no = await paid_order(adapter, control)
    await adapter.refund(refund_of(out_trade_no, "R1", 600))

    with pytest.raises(RefundRejected) as raised:
        await adapter.refund(refund_of(out_trade_no, "R2", 401))

    assert raised.value.code == "ERROR"
    assert await settled_ledger(control, out_trade_no) == [("charge", 1_000), ("refund", 600)]


async def test_refund_with_wrong_order_total_is_param_error(adapter: WechatAdapter, control: SimControl) -> None:
    out_trade_no = await paid_order(adapter, control)

    with pytest.raises(RequestRejected) as raised:
        await adapter.refund(refund_of(out_trade_no, "R1", 100, total_fen=999))

    assert raised.value.code == "PARAM_ERROR"
    assert await settled_ledger(control, out_trade_no) == [("charge", 1_000)]


async def test_refund_of_unpaid_order_is_refused(adapter: WechatAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("02"), amount_fen=1_000)
    await adapter.micropay(request)

    with pytest.raises(RefundRejected):
        await adapter.refund(refund_of(request.out_trade_no, "R1", 100))

    assert await settled_ledger(control, request.out_trade_no) == []


async def test_refund_of_unknown_order_is_not_found(adapter: WechatAdapter) -> None:
    with pytest.raises(OrderNotFound) as raised:
        await adapter.refund(refund_of("NO-SUCH-ORDER", "R1", 100))

    assert raised.value.code == "ORDERNOTEXIST"


async def test_refund_query_of_unknown_refund_is_not_found(adapter: WechatAdapter, control: SimControl) -> None:
    out_trade_no = await paid_order(adapter, control)

    with pytest.raises(OrderNotFound) as raised:
        await adapter.refund_query(out_trade_no, "NEVER")

    assert raised.value.code == "REFUNDNOTEXIST"


async def test_reverse_after_refund_is_refused(adapter: WechatAdapter, control: SimControl) -> None:
    out_trade_no = await paid_order(adapter, control)
    await adapter.refund(refund_of(out_trade_no, "R1", 100))

    with pytest.raises(RequestRejected) as raised:
        await adapter.reverse(out_trade_no)

    assert raised.value.code == "TRADE_ERROR"
    assert await settled_ledger(control, out_trade_no) == [("charge", 1_000), ("refund", 100)]
