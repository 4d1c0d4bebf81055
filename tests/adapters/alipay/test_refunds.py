"""Alipay refunds end to end: answered at once, every refund fault row, the ledger, the 3-month window."""

from __future__ import annotations

import pytest

from adapters.alipay.client import AlipayAdapter
from adapters.protocol import NotificationInvalid, RefundStatus, TradeStatus
from tests.adapters import refund_scenarios as scenarios
from tests.adapters.refund_support import PAID_FEN, RefundKit, backdate

CODES = scenarios.RefundCodes(
    rejected="ACQ.REASON_TRADE_BEEN_FREEZEN",
    unknown="ACQ.SYSTEM_ERROR",
    merchant_balance="ACQ.SELLER_BALANCE_NOT_ENOUGH",
    over_amount="ACQ.REASON_TRADE_REFUND_FEE_ERR",
    other_amount="ACQ.DISCORDANT_REPEAT_REQUEST",
    overdue="ACQ.TRADE_NOT_ALLOW_REFUND",
    window_days=90,
)


@pytest.mark.parametrize(
    ("refund_fen", "code"),
    [
        (1_021, CODES.rejected),
        (1_023, CODES.merchant_balance),
        (1_027, CODES.rejected),  # a refund that would fail later fails at once where refunds are synchronous
    ],
)
async def test_refused_rows(refund_kit: RefundKit, refund_fen: int, code: str) -> None:
    await scenarios.refused(refund_kit, refund_fen, code)


@pytest.mark.parametrize("refund_fen", [1_000, 1_024, 1_025, 1_026])
async def test_other_rows_succeed_at_once(refund_kit: RefundKit, refund_fen: int) -> None:
    """00, and the rows about finishing later (24-26), which a synchronous channel has no room for."""
    out = await refund_kit.paid_order()

    result = await refund_kit.adapter.refund(refund_kit.request(out, refund_fen, "R1"))

    assert (result.status, result.refund_fen) == (RefundStatus.SUCCESS, refund_fen)
    assert await refund_kit.control.ledger(out) == [("charge", PAID_FEN), ("refund", refund_fen)]
    assert (await refund_kit.adapter.refund_query(out, "R1")).status is RefundStatus.SUCCESS
    assert refund_kit.simulator.notifier.attempts == []


async def test_22_system_error_then_success(refund_kit: RefundKit) -> None:
    await scenarios.unknown_then_success(refund_kit, CODES.unknown)


async def test_concurrent_identical_refunds(refund_kit: RefundKit) -> None:
    await scenarios.concurrent_identical_refunds_move_money_once(refund_kit)


async def test_concurrent_partial_refunds(refund_kit: RefundKit) -> None:
    await scenarios.concurrent_partial_refunds_stop_at_the_paid_amount(refund_kit, CODES)


async def test_processing_refunds_count(refund_kit: RefundKit) -> None:
    await scenarios.processing_refunds_count_toward_the_paid_amount(refund_kit, CODES)


async def test_same_number_another_amount(refund_kit: RefundKit) -> None:
    await scenarios.same_number_with_another_amount_is_refused(refund_kit, CODES)


async def test_three_month_window(refund_kit: RefundKit) -> None:
    await scenarios.refund_window(refund_kit, CODES)


async def test_past_the_window_the_trade_is_finished(refund_kit: RefundKit, adapter: AlipayAdapter) -> None:
    out = await refund_kit.paid_order()
    await backdate(refund_kit.control, out, 91)

    trade = await adapter.query(out)

    assert (trade.status, trade.channel_status) == (TradeStatus.PAID, "TRADE_FINISHED")


def test_there_is_no_refund_notification(adapter: AlipayAdapter) -> None:
    with pytest.raises(NotificationInvalid) as raised:
        adapter.parse_refund_notification(b"out_trade_no=T1&refund_fee=1.00", "application/x-www-form-urlencoded")
    assert raised.value.code == "unsupported"
