"""UnionPay refunds end to end: accepted then finished later, every refund fault row, the ledger, notifications."""

from __future__ import annotations

import pytest

from adapters.protocol import NotificationInvalid, RefundStatus
from adapters.unionpay.client import UnionpayAdapter
from adapters.unionpay.wire import decode_message
from tests.adapters import refund_scenarios as scenarios
from tests.adapters.refund_support import RefundKit

CODES = scenarios.RefundCodes(
    rejected="30",
    unknown="99",
    merchant_balance="64",
    over_amount="33",
    other_amount="36",
    overdue="39",
    window_days=365,
)


@pytest.mark.parametrize(("refund_fen", "code"), [(1_021, CODES.rejected), (1_023, CODES.merchant_balance)])
async def test_refused_rows(refund_kit: RefundKit, refund_fen: int, code: str) -> None:
    await scenarios.refused(refund_kit, refund_fen, code)


async def test_00_finishes_later(refund_kit: RefundKit) -> None:
    await scenarios.finishes_later(refund_kit)
    assert decode_message(refund_kit.receiver.bodies[-1][0])["origRespCode"] == "00"


async def test_22_system_error_then_success(refund_kit: RefundKit) -> None:
    await scenarios.unknown_then_success(refund_kit, CODES.unknown)


async def test_24_finishes_only_after_queries(refund_kit: RefundKit) -> None:
    await scenarios.finishes_only_after_queries(refund_kit)


async def test_25_finishes_only_by_notification(refund_kit: RefundKit) -> None:
    await scenarios.finishes_only_by_notification(refund_kit)


async def test_26_finishes_only_by_query(refund_kit: RefundKit) -> None:
    await scenarios.finishes_only_by_query(refund_kit)


async def test_27_fails_later(refund_kit: RefundKit) -> None:
    await scenarios.fails_later(refund_kit)
    assert refund_kit.notified("R27")[0].raw["origRespCode"] == "01"


async def test_concurrent_identical_refunds(refund_kit: RefundKit) -> None:
    await scenarios.concurrent_identical_refunds_move_money_once(refund_kit)


async def test_concurrent_partial_refunds(refund_kit: RefundKit) -> None:
    await scenarios.concurrent_partial_refunds_stop_at_the_paid_amount(refund_kit, CODES)


async def test_processing_refunds_count(refund_kit: RefundKit) -> None:
    await scenarios.processing_refunds_count_toward_the_paid_amount(refund_kit, CODES)


async def test_same_number_another_amount(refund_kit: RefundKit) -> None:
    await scenarios.same_number_with_another_amount_is_refused(refund_kit, CODES)


async def test_refund_window(refund_kit: RefundKit) -> None:
    await scenarios.refund_window(refund_kit, CODES)


async def test_refund_and_payment_notifications_are_not_mistaken(
    refund_kit: RefundKit, adapter: UnionpayAdapter
) -> None:
    out = await refund_kit.paid_order()
    await adapter.refund(refund_kit.request(out, 1_000, "RN"))
    await refund_kit.wait_notified("RN")
    body, content_type = refund_kit.receiver.bodies[-1]
    tampered = body.replace(b'"txnAmt": "1000"', b'"txnAmt": "9000"')

    with pytest.raises(NotificationInvalid):
        adapter.parse_notification(body, content_type)  # a refund's orderNo is no order of ours
    with pytest.raises(NotificationInvalid):
        adapter.parse_refund_notification(tampered, content_type)
    assert tampered != body
    assert adapter.parse_refund_notification(body, content_type).status is RefundStatus.SUCCESS
