"""Refund scenarios every channel suite runs through its own adapter against its simulator over HTTP.

Each channel's test_refunds.py calls these with its own codes; the asynchronous channels (WeChat, UnionPay) also
run the rows that only exist where a refund finishes later (faults 00 and 24-27, see docs/channels.md).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

import pytest

from adapters.protocol import OrderNotFound, OutcomeUnknown, RefundRejected, RefundResult, RefundStatus
from tests.adapters.refund_support import PAID_FEN, RefundKit, backdate, queried_until_final, settled_ledger
from tests.support.simcontrol import eventually

CHARGE = ("charge", PAID_FEN)


@dataclass(frozen=True)
class RefundCodes:
    """A channel's words for each refusal the scenarios provoke."""

    rejected: str  # fault 21
    unknown: str  # fault 22's system error
    merchant_balance: str  # fault 23
    over_amount: str
    other_amount: str  # a refund number repeated with another amount
    overdue: str
    window_days: int


# ---- every channel -----------------------------------------------------------------------------------


async def refused(kit: RefundKit, refund_fen: int, code: str) -> None:
    """A definite refusal: RefundRejected with the channel's code, nothing recorded, nothing moved."""
    out = await kit.paid_order()
    with pytest.raises(RefundRejected) as raised:
        await kit.adapter.refund(kit.request(out, refund_fen, "RX"))
    assert raised.value.code == code
    with pytest.raises(OrderNotFound):
        await kit.adapter.refund_query(out, "RX")
    assert await kit.control.ledger(out) == [CHARGE]


async def unknown_then_success(kit: RefundKit, code: str) -> None:
    """Fault 22: a system error (retry safe), then the same refund number succeeds, and money moves once."""
    out = await kit.paid_order()
    request = kit.request(out, 1_022, "R22")
    with pytest.raises(OutcomeUnknown) as raised:
        await kit.adapter.refund(request)
    assert (raised.value.code, raised.value.retry_safe) == (code, True)

    retried = await kit.adapter.refund(request)
    assert (retried.status, retried.refund_fen) == (RefundStatus.PROCESSING, 1_022)  # nothing moved by this call
    final = await queried_until_final(kit.adapter, out, "R22")

    assert (final.status, final.refund_fen) == (RefundStatus.SUCCESS, 1_022)
    assert (await kit.adapter.refund(request)).refund_fen == 1_022  # a third try is still the same refund
    assert await settled_ledger(kit.control, out) == [CHARGE, ("refund", 1_022)]


async def concurrent_identical_refunds_move_money_once(kit: RefundKit) -> None:
    out = await kit.paid_order()
    request = kit.request(out, 2_000, "RC")

    results = await asyncio.gather(*(kit.adapter.refund(request) for _ in range(20)))

    assert len({result.channel_refund_no for result in results}) == 1
    assert sum(result.status is RefundStatus.SUCCESS for result in results) <= 1  # only a call that moved money
    assert await settled_ledger(kit.control, out) == [CHARGE, ("refund", 2_000)]


async def concurrent_partial_refunds_stop_at_the_paid_amount(kit: RefundKit, codes: RefundCodes) -> None:
    """100 different refunds of 200 fen of a 10,000 fen order at once: exactly 50 accepted."""
    out = await kit.paid_order()

    results = await asyncio.gather(
        *(kit.adapter.refund(kit.request(out, 200, f"RP{n:03d}")) for n in range(100)), return_exceptions=True
    )

    accepted = [result for result in results if isinstance(result, RefundResult)]
    refused_codes = {result.code for result in results if isinstance(result, RefundRejected)}
    assert (len(accepted), refused_codes) == (50, {codes.over_amount})
    ledger = await settled_ledger(kit.control, out)
    assert sum(fen for kind, fen in ledger if kind == "refund") == PAID_FEN


async def processing_refunds_count_toward_the_paid_amount(kit: RefundKit, codes: RefundCodes) -> None:
    out = await kit.paid_order()
    await kit.adapter.refund(kit.request(out, 6_000, "R1"))

    with pytest.raises(RefundRejected) as raised:
        await kit.adapter.refund(kit.request(out, 4_001, "R2"))  # at once, while R1 may still be processing

    assert raised.value.code == codes.over_amount
    assert await settled_ledger(kit.control, out) == [CHARGE, ("refund", 6_000)]


async def same_number_with_another_amount_is_refused(kit: RefundKit, codes: RefundCodes) -> None:
    out = await kit.paid_order()
    await kit.adapter.refund(kit.request(out, 1_000, "R1"))

    with pytest.raises(RefundRejected) as raised:
        await kit.adapter.refund(kit.request(out, 1_500, "R1"))

    assert raised.value.code == codes.other_amount
    assert await settled_ledger(kit.control, out) == [CHARGE, ("refund", 1_000)]


async def refund_window(kit: RefundKit, codes: RefundCodes) -> None:
    """Accepted on the window's last day, refused the day after it."""
    out = await kit.paid_order()
    await backdate(kit.control, out, codes.window_days - 1)
    await kit.adapter.refund(kit.request(out, 1_000, "RW1"))
    await backdate(kit.control, out, 2)

    with pytest.raises(RefundRejected) as raised:
        await kit.adapter.refund(kit.request(out, 1_000, "RW2"))

    assert raised.value.code == codes.overdue
    assert await settled_ledger(kit.control, out) == [CHARGE, ("refund", 1_000)]


# ---- channels whose refunds finish later ---------------------------------------------------------------


async def finishes_later(kit: RefundKit) -> None:
    """Fault 00: accepted and processing, then success by time: the ledger moves, the notification says so."""
    out = await kit.paid_order()
    accepted = await kit.adapter.refund(kit.request(out, 1_000, "R00"))
    assert (accepted.status, accepted.refund_fen) == (RefundStatus.PROCESSING, 1_000)
    assert accepted.channel_refund_no
    assert (await kit.adapter.refund_query(out, "R00")).status is RefundStatus.PROCESSING
    assert await kit.control.ledger(out) == [CHARGE]  # nothing back yet

    notification = await kit.wait_notified("R00")

    assert (notification.status, notification.refund_fen, notification.out_trade_no) == (
        RefundStatus.SUCCESS,
        1_000,
        out,
    )
    assert notification.channel_refund_no == accepted.channel_refund_no
    assert await kit.adapter.refund_query(out, "R00") == replace(accepted, status=RefundStatus.SUCCESS)
    assert await kit.control.ledger(out) == [CHARGE, ("refund", 1_000)]
    attempts = kit.simulator.notifier.attempts
    await eventually(lambda: any(a.reference == "R00" for a in attempts))
    assert [a.acknowledged for a in attempts if a.reference == "R00"] == [True]  # our ack stops the channel


async def finishes_only_after_queries(kit: RefundKit) -> None:
    """Fault 24: time never finishes it; the third refund query does (then the notification comes)."""
    out = await kit.paid_order()
    await kit.adapter.refund(kit.request(out, 1_024, "R24"))
    await kit.adapter.refund(kit.request(out, 1_000, "R00"))
    await kit.wait_notified("R00")  # time has finished a refund accepted after R24
    assert await kit.refund_state(out, "R24") == "processing"

    needed = kit.simulator.bank.settings.refund_queries_to_finish
    statuses = [(await kit.adapter.refund_query(out, "R24")).status for _ in range(needed)]

    assert statuses == [RefundStatus.PROCESSING] * (needed - 1) + [RefundStatus.SUCCESS]
    assert (await kit.wait_notified("R24")).status is RefundStatus.SUCCESS
    assert await kit.control.ledger(out) == [CHARGE, ("refund", 1_000), ("refund", 1_024)]


async def finishes_only_by_notification(kit: RefundKit) -> None:
    """Fault 25: the money moves and the notification says SUCCESS; refund queries keep saying PROCESSING."""
    out = await kit.paid_order()
    await kit.adapter.refund(kit.request(out, 1_025, "R25"))

    notification = await kit.wait_notified("R25")

    assert (notification.status, notification.refund_fen) == (RefundStatus.SUCCESS, 1_025)
    assert await kit.control.ledger(out) == [CHARGE, ("refund", 1_025)]
    looks = kit.simulator.bank.settings.refund_queries_to_finish + 1
    assert {(await kit.adapter.refund_query(out, "R25")).status for _ in range(looks)} == {RefundStatus.PROCESSING}


async def finishes_only_by_query(kit: RefundKit) -> None:
    """Fault 26: success by time, but no notification is ever sent."""
    out = await kit.paid_order()
    await kit.adapter.refund(kit.request(out, 1_026, "R26"))
    await kit.adapter.refund(kit.request(out, 1_000, "R00"))
    await kit.wait_notified("R00")  # R26 was due first, so time has finished it too
    assert await kit.refund_state(out, "R26") == "success"
    await eventually(lambda: kit.simulator.notifier.in_flight == 0)

    assert kit.notified("R26") == []
    assert [a.reference for a in kit.simulator.notifier.attempts] == ["R00"]
    queried = await kit.adapter.refund_query(out, "R26")
    assert (queried.status, queried.refund_fen) == (RefundStatus.SUCCESS, 1_026)
    assert await kit.control.ledger(out) == [CHARGE, ("refund", 1_026), ("refund", 1_000)]


async def fails_later(kit: RefundKit) -> None:
    """Fault 27: accepted, then failed: query and notification say FAILED, nothing moved, the amount is free again."""
    out = await kit.paid_order()
    accepted = await kit.adapter.refund(kit.request(out, 1_027, "R27"))
    assert accepted.status is RefundStatus.PROCESSING

    notification = await kit.wait_notified("R27")

    assert notification.status is RefundStatus.FAILED
    assert (await kit.adapter.refund_query(out, "R27")).status is RefundStatus.FAILED
    assert await kit.control.ledger(out) == [CHARGE]
    assert (await kit.adapter.refund(kit.request(out, PAID_FEN, "RALL"))).status is RefundStatus.PROCESSING
    assert await settled_ledger(kit.control, out) == [CHARGE, ("refund", PAID_FEN)]
