"""Matching a day against a channel's bill: a clean day has no difference, each planted one is found alone."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.domain.channels import Channel
from gateway.domain.reconciliation import (
    TODO,
    BillLine,
    BillStatus,
    DifferenceKind,
    OurPayment,
    OurRefund,
    compare,
)

PAID = OurPayment("ord_a", "mch_1", frozenset({"orda"}), "T-A", 1250, 8, "PARTIALLY_REFUNDED", BillStatus.SUCCESS)
QR = OurPayment("ord_b", "mch_1", frozenset({"ordb", "ordb1"}), "T-B", 2000, 12, "PAID", BillStatus.SUCCESS)
REVERSED = OurPayment("ord_c", "mch_1", frozenset({"ordc"}), None, 900, None, "REVERSED", None)
VOIDED = OurPayment("ord_d", "mch_1", frozenset({"ordd"}), "T-D", 700, 4, "VOIDED", BillStatus.REVOKED)
REFUND = OurRefund("rfd_r", "ord_a", "mch_1", "rfdr", 500, 3)
OURS = (PAID, QR, REVERSED, VOIDED)
BILL = [
    BillLine("payment", "orda", "T-A", 1250, 8, BillStatus.SUCCESS, line_no=2),
    BillLine("payment", "ordb1", "T-B", 2000, 12, BillStatus.SUCCESS, line_no=3),  # paid through its 2nd attempt
    BillLine("payment", "ordd", "T-D", 700, 0, BillStatus.REVOKED, line_no=4),
    BillLine("refund", "orda", "T-A", 500, 3, BillStatus.SUCCESS, out_refund_no="rfdr", line_no=5),
]


def kinds(
    bill: list[BillLine], ours: tuple[OurPayment, ...] = OURS, refunds: tuple[OurRefund, ...] = (REFUND,)
) -> list[tuple[str, str]]:
    return [(d.kind.value, d.order_id or d.out_trade_no) for d in compare(Channel.WECHAT, ours, refunds, bill)]


def test_a_clean_day_has_no_difference() -> None:
    assert kinds(BILL) == []
    assert kinds(BILL[:2] + BILL[3:]) == []  # a revoked trade the bill leaves out is no difference either


def test_an_invented_payment_is_missing_here() -> None:
    invented = BillLine("payment", "ordzzz", "T-Z", 100, 1, BillStatus.SUCCESS, line_no=9)
    [found] = compare(Channel.WECHAT, OURS, [REFUND], [*BILL, invented])
    assert (found.kind, found.out_trade_no, found.line_no, found.order_id) == (
        DifferenceKind.MISSING_HERE, "ordzzz", 9, None,
    )  # fmt: skip
    assert "refund it at the channel" in found.todo


def test_a_dropped_payment_is_missing_at_the_channel() -> None:
    assert kinds(BILL[1:]) == [("missing_at_channel", "ord_a")]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"amount_fen": 1251}, "amount_differs"),
        ({"fee_fen": 9}, "fee_differs"),
        ({"status": BillStatus.REVOKED}, "status_differs"),
    ],
)
def test_a_changed_payment_line_is_that_difference(change: dict[str, object], expected: str) -> None:
    assert kinds([replace(BILL[0], **change), *BILL[1:]]) == [(expected, "ord_a")]  # type: ignore[arg-type]


def test_money_kept_for_a_payment_we_reversed_is_a_status_difference() -> None:
    kept = BillLine("payment", "ordc", "T-C", 900, 5, BillStatus.SUCCESS, line_no=8)
    [found] = compare(Channel.WECHAT, OURS, [REFUND], [*BILL, kept])
    assert (found.kind, found.ours["status"], found.theirs["status"]) == (
        DifferenceKind.STATUS_DIFFERS, "REVERSED", "SUCCESS",
    )  # fmt: skip


def test_refund_differences() -> None:
    assert kinds(BILL[:3]) == [("missing_at_channel", "ord_a")]
    assert kinds([*BILL[:3], replace(BILL[3], amount_fen=400)]) == [("amount_differs", "ord_a")]
    assert kinds([*BILL[:3], replace(BILL[3], fee_fen=0)]) == [("fee_differs", "ord_a")]
    stranger = replace(BILL[3], out_refund_no="elsewhere")
    assert kinds([*BILL, stranger]) == [("missing_here", "orda")]


def test_a_fee_not_on_record_is_not_compared_and_every_difference_says_what_to_do() -> None:
    assert kinds(BILL, ours=(replace(PAID, fee_fen=None), QR, REVERSED, VOIDED)) == []
    assert {(what, kind) for what in ("payment", "refund") for kind in DifferenceKind} == set(TODO)
