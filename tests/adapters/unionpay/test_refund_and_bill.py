"""Refunds and refund queries against the simulator over real HTTP, checked against the ledger (bills: test_bills)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from adapters.protocol import (
    AlreadyPaid,
    MicropayRequest,
    OrderNotFound,
    RefundRejected,
    RefundRequest,
    RefundStatus,
    TradeStatus,
)
from adapters.simcore.faults import Fault
from adapters.unionpay.client import UnionpayAdapter
from tests.adapters.refund_support import queried_until_final, settled_ledger
from tests.support.simcontrol import SimControl, order_no


async def paid_order(adapter: UnionpayAdapter, control: SimControl, amount_fen: int = 5000) -> tuple[str, str]:
    """A paid micropay; returns its out_trade_no and the channel's transIndex."""
    code = await control.code(Fault.SUCCESS)
    out = order_no()
    result = await adapter.micropay(MicropayRequest(out, amount_fen, code, "书"))
    assert result.channel_trade_no is not None
    return out, result.channel_trade_no


def refund_of(out: str, refund_fen: int, out_refund_no: str | None = None, total_fen: int = 5000) -> RefundRequest:
    return RefundRequest(out, out_refund_no or order_no("R"), total_fen=total_fen, refund_fen=refund_fen)


async def test_partial_then_full_refund(adapter: UnionpayAdapter, control: SimControl) -> None:
    out, _ = await paid_order(adapter, control)

    first = await adapter.refund(refund_of(out, 2000))
    second = await adapter.refund(refund_of(out, 3000))

    assert (first.status, first.refund_fen) == (RefundStatus.PROCESSING, 2000)  # accepted; it finishes later
    assert first.channel_refund_no and first.channel_refund_no != second.channel_refund_no
    assert await settled_ledger(control, out) == [("charge", 5000), ("refund", 2000), ("refund", 3000)]
    queried = await adapter.query(out)
    assert (queried.status, queried.channel_status) == (TradeStatus.REFUNDED, "01")


async def test_repeated_refund_number_refunds_once(adapter: UnionpayAdapter, control: SimControl) -> None:
    out, _ = await paid_order(adapter, control)
    request = refund_of(out, 1500)

    first = await adapter.refund(request)
    again = await adapter.refund(request)

    assert again == first
    assert await settled_ledger(control, out) == [("charge", 5000), ("refund", 1500)]


async def test_refund_number_reused_with_another_amount(adapter: UnionpayAdapter, control: SimControl) -> None:
    out, _ = await paid_order(adapter, control)
    await adapter.refund(refund_of(out, 1500, "RSAME1"))

    with pytest.raises(RefundRejected) as raised:
        await adapter.refund(refund_of(out, 1600, "RSAME1"))

    assert raised.value.code == "36"
    assert await settled_ledger(control, out) == [("charge", 5000), ("refund", 1500)]


async def test_refund_beyond_the_paid_amount(adapter: UnionpayAdapter, control: SimControl) -> None:
    out, _ = await paid_order(adapter, control)
    await adapter.refund(refund_of(out, 4000))

    with pytest.raises(RefundRejected) as raised:
        await adapter.refund(refund_of(out, 1001))

    assert raised.value.code == "33"
    assert await settled_ledger(control, out) == [("charge", 5000), ("refund", 4000)]


async def test_refund_with_the_wrong_original_amount(adapter: UnionpayAdapter, control: SimControl) -> None:
    out, _ = await paid_order(adapter, control)

    with pytest.raises(RefundRejected) as raised:
        await adapter.refund(refund_of(out, 100, total_fen=4999))

    assert raised.value.code == "36"
    assert await settled_ledger(control, out) == [("charge", 5000)]


async def test_refund_of_an_unpaid_order(adapter: UnionpayAdapter, control: SimControl) -> None:
    code = await control.code(Fault.PASSWORD_TIMEOUT)
    out = order_no()
    await adapter.micropay(MicropayRequest(out, 5000, code, "书"))

    with pytest.raises(RefundRejected) as raised:
        await adapter.refund(refund_of(out, 100))

    assert raised.value.code == "35"


async def test_refund_of_an_unknown_order(adapter: UnionpayAdapter) -> None:
    with pytest.raises(OrderNotFound) as raised:
        await adapter.refund(refund_of(order_no(), 100))

    assert raised.value.code == "34"


async def test_refund_query(adapter: UnionpayAdapter, control: SimControl) -> None:
    out, _ = await paid_order(adapter, control)
    refund = await adapter.refund(refund_of(out, 700))

    queried = await queried_until_final(adapter, out, refund.out_refund_no)

    assert refund.status is RefundStatus.PROCESSING
    assert queried == replace(refund, status=RefundStatus.SUCCESS)
    with pytest.raises(OrderNotFound):
        await adapter.refund_query(out, "RNOSUCH")


async def test_refunded_order_can_no_longer_be_reversed(adapter: UnionpayAdapter, control: SimControl) -> None:
    out, _ = await paid_order(adapter, control)
    await adapter.refund(refund_of(out, 100))

    with pytest.raises(AlreadyPaid) as raised:
        await adapter.reverse(out)

    assert raised.value.code == "35"
    assert await settled_ledger(control, out) == [("charge", 5000), ("refund", 100)]
