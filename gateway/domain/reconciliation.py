"""Reconciliation (对账): our payments and refunds of a day against a channel's bill, every difference classified."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gateway.domain.channels import Channel


class DifferenceKind(StrEnum):
    MISSING_HERE = "missing_here"  # the channel has it, we do not
    MISSING_AT_CHANNEL = "missing_at_channel"  # we have it, the channel's bill does not
    AMOUNT_DIFFERS = "amount_differs"
    STATUS_DIFFERS = "status_differs"  # e.g. we say REVERSED, the channel says SUCCESS
    FEE_DIFFERS = "fee_differs"


class BillStatus(StrEnum):
    """A bill line's state, in our terms (the adapters map each channel's words onto these)."""

    SUCCESS = "SUCCESS"  # the money stayed with the merchant (a refund: it went back)
    REVOKED = "REVOKED"  # reversed or cancelled: no money moved in the end


@dataclass(frozen=True)
class OurPayment:
    """One of our orders as the day's bill should show it: `expected` None when the bill should not list it."""

    order_id: str
    merchant_id: str
    channel_out_trade_nos: frozenset[str]  # every number the channel may know it by (one per QR attempt)
    channel_trade_no: str | None
    amount_fen: int
    fee_fen: int | None  # None: paid before fees were recorded (not compared)
    status: str  # our order status
    expected: BillStatus | None


@dataclass(frozen=True)
class OurRefund:
    refund_id: str
    order_id: str
    merchant_id: str
    out_refund_no: str
    amount_fen: int
    fee_fen: int | None


@dataclass(frozen=True)
class BillLine:
    """A bill entry as reconciliation reads it (from adapters.protocol.BillEntry)."""

    kind: str  # payment, refund
    out_trade_no: str
    channel_trade_no: str
    amount_fen: int
    fee_fen: int
    status: BillStatus
    out_refund_no: str | None = None
    line_no: int = 0


@dataclass(frozen=True)
class Difference:
    kind: DifferenceKind
    channel: Channel
    what: str  # payment or refund
    out_trade_no: str
    order_id: str | None = None
    refund_id: str | None = None
    merchant_id: str | None = None
    ours: dict[str, Any] = field(default_factory=dict)
    theirs: dict[str, Any] = field(default_factory=dict)
    line_no: int | None = None
    repair: str | None = None  # what the gateway did about it

    @property
    def todo(self) -> str:
        """What a person should do about it."""
        return TODO[(self.what, self.kind)]


TODO = {
    ("payment", DifferenceKind.MISSING_HERE): "money arrived for a trade we have no order of: find the shop's sale "
    "by its channel trade number, or refund it at the channel",
    ("payment", DifferenceKind.MISSING_AT_CHANNEL): "we recorded a payment the channel's bill does not list: query "
    "the trade at the channel; if it never arrived, ask the shop to collect it again",
    ("payment", DifferenceKind.AMOUNT_DIFFERS): "the amounts differ: compare the channel's trade with the order and "
    "raise it with the channel",
    ("payment", DifferenceKind.STATUS_DIFFERS): "the channel and we disagree on whether the money stayed: query the "
    "trade; money kept for an order we closed is refunded",
    ("payment", DifferenceKind.FEE_DIFFERS): "the channel charged another fee than the merchant's rate says: check "
    "the rate (gateway merchants fees) against the contract",
    ("refund", DifferenceKind.MISSING_HERE): "the channel refunded something we have no refund of: find who refunded "
    "it outside the gateway",
    ("refund", DifferenceKind.MISSING_AT_CHANNEL): "we recorded a refund the channel's bill does not list: query "
    "the refund at the channel",
    ("refund", DifferenceKind.AMOUNT_DIFFERS): "the refunded amounts differ: raise it with the channel",
    ("refund", DifferenceKind.STATUS_DIFFERS): "the refund's state differs: query the refund at the channel",
    ("refund", DifferenceKind.FEE_DIFFERS): "the fee given back differs from the rate's share: check the channel's "
    "refund fee rule (GATEWAY_REFUND_RETURNS_FEE)",
}


def compare(
    channel: Channel, ours: Iterable[OurPayment], refunds: Iterable[OurRefund], bill: Iterable[BillLine]
) -> list[Difference]:
    """Every difference between our day and the channel's bill for it, payments then refunds, in bill order.

    A payment is matched by the channel's trade number, else by any out_trade_no we sent for it; a refund by its
    out_refund_no. `ours` may hold orders of other days that the bill names (paid late, refunded today): those are
    compared when the bill lists them and never reported missing.
    """
    payments = list(ours)
    by_trade_no = {p.channel_trade_no: p for p in payments if p.channel_trade_no}
    by_out_trade_no = {number: p for p in payments for number in p.channel_out_trade_nos}
    seen: set[str] = set()
    found: list[Difference] = []
    lines = list(bill)
    for line in (line for line in lines if line.kind == "payment"):
        mine = by_trade_no.get(line.channel_trade_no) or by_out_trade_no.get(line.out_trade_no)
        theirs = {
            "amount_fen": line.amount_fen,
            "fee_fen": line.fee_fen,
            "status": line.status.value,
            "channel_trade_no": line.channel_trade_no,
        }
        if mine is None:
            found.append(
                Difference(
                    DifferenceKind.MISSING_HERE,
                    channel,
                    "payment",
                    line.out_trade_no,
                    theirs=theirs,
                    line_no=line.line_no,
                )
            )
            continue
        seen.add(mine.order_id)
        found.extend(_payment_differences(channel, mine, line, theirs))
    for mine in payments:
        if mine.order_id not in seen and mine.expected is BillStatus.SUCCESS:  # a revoked trade may be left out
            found.append(_difference(DifferenceKind.MISSING_AT_CHANNEL, channel, mine, None, {}))
    found.extend(_refund_differences(channel, list(refunds), [line for line in lines if line.kind == "refund"]))
    return found


def _ours(mine: OurPayment) -> dict[str, Any]:
    return {"amount_fen": mine.amount_fen, "fee_fen": mine.fee_fen, "status": mine.status}


def _difference(
    kind: DifferenceKind, channel: Channel, mine: OurPayment, line: BillLine | None, theirs: dict[str, Any]
) -> Difference:
    out_trade_no = line.out_trade_no if line is not None else min(mine.channel_out_trade_nos)
    return Difference(
        kind,
        channel,
        "payment",
        out_trade_no,
        mine.order_id,
        None,
        mine.merchant_id,
        _ours(mine),
        theirs,
        None if line is None else line.line_no,
    )


def _payment_differences(
    channel: Channel, mine: OurPayment, line: BillLine, theirs: dict[str, Any]
) -> list[Difference]:
    expected = mine.expected or BillStatus.REVOKED  # a payment we say never kept money may at most be revoked
    if line.status is not expected:
        return [_difference(DifferenceKind.STATUS_DIFFERS, channel, mine, line, theirs)]
    if line.status is BillStatus.REVOKED:
        return []  # reversed on both sides: no money, no fee
    if line.amount_fen != mine.amount_fen:
        return [_difference(DifferenceKind.AMOUNT_DIFFERS, channel, mine, line, theirs)]
    if mine.fee_fen is not None and line.fee_fen != mine.fee_fen:
        return [_difference(DifferenceKind.FEE_DIFFERS, channel, mine, line, theirs)]
    return []


def _refund_differences(channel: Channel, refunds: list[OurRefund], lines: list[BillLine]) -> list[Difference]:
    by_number = {refund.out_refund_no: refund for refund in refunds}
    found: list[Difference] = []
    seen: set[str] = set()
    for line in lines:
        theirs = {"amount_fen": line.amount_fen, "fee_fen": line.fee_fen, "status": line.status.value}
        mine = by_number.get(line.out_refund_no or "")
        if mine is None:
            found.append(
                Difference(
                    DifferenceKind.MISSING_HERE,
                    channel,
                    "refund",
                    line.out_trade_no,
                    theirs={**theirs, "out_refund_no": line.out_refund_no},
                    line_no=line.line_no,
                )
            )
            continue
        seen.add(mine.refund_id)
        ours = {"amount_fen": mine.amount_fen, "fee_fen": mine.fee_fen, "out_refund_no": mine.out_refund_no}
        kind = None
        if line.amount_fen != mine.amount_fen:
            kind = DifferenceKind.AMOUNT_DIFFERS
        elif mine.fee_fen is not None and line.fee_fen != mine.fee_fen:
            kind = DifferenceKind.FEE_DIFFERS
        if kind is not None:
            found.append(
                Difference(
                    kind,
                    channel,
                    "refund",
                    line.out_trade_no,
                    mine.order_id,
                    mine.refund_id,
                    mine.merchant_id,
                    ours,
                    theirs,
                    line.line_no,
                )
            )
    for mine in refunds:
        if mine.refund_id not in seen:
            ours = {"amount_fen": mine.amount_fen, "fee_fen": mine.fee_fen, "out_refund_no": mine.out_refund_no}
            found.append(
                Difference(
                    DifferenceKind.MISSING_AT_CHANNEL,
                    channel,
                    "refund",
                    "",
                    mine.order_id,
                    mine.refund_id,
                    mine.merchant_id,
                    ours,
                )
            )
    return found


def count_kinds(differences: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Differences (as stored and shown) per kind, only the kinds found."""
    return dict(Counter(found["kind"] for found in differences))
