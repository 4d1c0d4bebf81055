"""Daily-bill scenarios every channel suite runs through its own adapter against its simulator over HTTP.

A test day (payments, partial refunds, a reversed payment) is moved to yesterday with the simulator's backdate, so
its bill exists; each channel's test_bills.py runs these with its fee rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from adapters.protocol import Bill, BillEntry, BillNotReady, ChannelAdapter, MicropayRequest, RefundRequest, TradeStatus
from adapters.simcore.app import ChannelSimulator
from adapters.simcore.faults import Fault
from adapters.simcore.fees import fee_fen
from tests.adapters.refund_support import backdate, settled_ledger
from tests.support.simcontrol import SimControl, order_no

BEIJING_OFFSET = timedelta(hours=8)


def beijing_today() -> date:
    return (datetime.now(UTC) + BEIJING_OFFSET).date()


def yesterday() -> date:
    return beijing_today() - timedelta(days=1)


@dataclass(frozen=True)
class FeeTerms:
    """What a channel's simulator charges by default."""

    rate_bp: int
    refund_returns_fee: bool

    def back(self, refund_fen: int) -> int:
        return fee_fen(refund_fen, self.rate_bp) if self.refund_returns_fee else 0


@dataclass
class TestDay:
    """The orders of a test day and the bill entries they must give, as comparable tuples."""

    refunded: str = ""  # 10000 fen, refunded 2500 and 1001
    kept: str = ""  # 333 fen
    reversed_: str = ""  # 2000 fen, reversed
    trade_nos: dict[str, str] = field(default_factory=dict)
    refund_nos: dict[str, str | None] = field(default_factory=dict)  # out_refund_no -> the channel's number


def row(entry: BillEntry) -> tuple[Any, ...]:
    """What a bill entry says, without where it came from."""
    return (
        entry.kind,
        entry.out_trade_no,
        entry.channel_trade_no,
        entry.amount_fen,
        entry.fee_fen,
        entry.status,
        entry.out_refund_no,
        entry.channel_refund_no,
    )


async def pay(adapter: ChannelAdapter, control: SimControl, amount_fen: int, day: TestDay) -> str:
    request = MicropayRequest(order_no(), amount_fen, await control.code(Fault.SUCCESS), "bill test")
    result = await adapter.micropay(request)
    assert result.status is TradeStatus.PAID and result.channel_trade_no
    day.trade_nos[request.out_trade_no] = result.channel_trade_no
    return request.out_trade_no


async def test_day(adapter: ChannelAdapter, control: SimControl, days_ago: int = 1) -> TestDay:
    """Pay three orders, refund one twice in part, reverse one; then move them all `days_ago` back."""
    day = TestDay()
    day.refunded = await pay(adapter, control, 10_000, day)
    for out_refund_no, refund_fen in (("RB1", 2_500), ("RB2", 1_001)):
        accepted = await adapter.refund(RefundRequest(day.refunded, out_refund_no, 10_000, refund_fen))
        day.refund_nos[out_refund_no] = accepted.channel_refund_no
    day.kept = await pay(adapter, control, 333, day)
    day.reversed_ = await pay(adapter, control, 2_000, day)
    while (await adapter.reverse(day.reversed_)).retry:
        pass
    assert await settled_ledger(control, day.refunded) == [("charge", 10_000), ("refund", 2_500), ("refund", 1_001)]
    assert await control.ledger(day.reversed_) == [("charge", 2_000), ("reversal", 2_000)]
    for out_trade_no in (day.refunded, day.kept, day.reversed_):
        await backdate(control, out_trade_no, days_ago)
    return day


def expected_rows(day: TestDay, fees: FeeTerms, with_refund_nos: bool = True) -> list[tuple[Any, ...]]:
    def refund_no(out_refund_no: str) -> str | None:
        return day.refund_nos[out_refund_no] if with_refund_nos else None

    trade = day.trade_nos
    return sorted(
        [
            (
                "payment",
                day.refunded,
                trade[day.refunded],
                10_000,
                fee_fen(10_000, fees.rate_bp),
                "SUCCESS",
                None,
                None,
            ),
            ("refund", day.refunded, trade[day.refunded], 2_500, fees.back(2_500), "SUCCESS", "RB1", refund_no("RB1")),
            ("refund", day.refunded, trade[day.refunded], 1_001, fees.back(1_001), "SUCCESS", "RB2", refund_no("RB2")),
            ("payment", day.kept, trade[day.kept], 333, fee_fen(333, fees.rate_bp), "SUCCESS", None, None),
            ("payment", day.reversed_, trade[day.reversed_], 2_000, 0, "REVOKED", None, None),
        ],
        key=repr,
    )


def rows(bill: Bill) -> list[tuple[Any, ...]]:
    return sorted((row(entry) for entry in bill.entries), key=repr)


# ---- scenarios ---------------------------------------------------------------------------------------


async def round_trip(adapter: ChannelAdapter, control: SimControl, fees: FeeTerms, channel_refund_nos: bool) -> Bill:
    """The simulator's bill of yesterday, through the adapter's HTTP client, says what the test day did."""
    day = await test_day(adapter, control)

    bill = await adapter.download_bill(yesterday())

    assert bill.day == yesterday()
    assert bill.bad_lines == []
    assert rows(bill) == expected_rows(day, fees, channel_refund_nos)
    start = datetime.combine(yesterday(), datetime.min.time(), UTC) - BEIJING_OFFSET
    assert all(entry.at.tzinfo is UTC and start <= entry.at < start + timedelta(days=1) for entry in bill.entries)
    line_numbers = [entry.line_no for entry in bill.entries]
    assert len(set(line_numbers)) == len(line_numbers) and min(line_numbers) > 1  # the header comes first
    return bill


async def no_bill_for_today_or_later(adapter: ChannelAdapter, control: SimControl) -> None:
    """Today's trades are on no bill yet, and neither is tomorrow: BillNotReady, a definite answer."""
    await pay(adapter, control, 500, TestDay())
    for day in (beijing_today(), beijing_today() + timedelta(days=1)):
        with pytest.raises(BillNotReady):
            await adapter.download_bill(day)


async def todays_bill_when_the_settings_say_so(
    adapter: ChannelAdapter, control: SimControl, simulator: ChannelSimulator
) -> None:
    """`bills_for_today` serves the day so far, for demos and gateway tests."""
    out_trade_no = await pay(adapter, control, 500, TestDay())
    simulator.settings.bills_for_today = True
    bill = await adapter.download_bill(beijing_today())
    assert [(entry.kind, entry.out_trade_no, entry.amount_fen) for entry in bill.entries] == [
        ("payment", out_trade_no, 500)
    ]


async def small_fees_round_like_the_gateway(
    adapter: ChannelAdapter, control: SimControl, fees: dict[int, int], refund: tuple[int, int] | None = None
) -> None:
    """The bill charges each amount in `fees` (fen -> fee in fen) exactly the gateway's fee: half up, under 1 fen 0.

    `refund` (fen, fee given back) refunds part of the first payment; the values are written out, not computed.
    """
    day = TestDay()
    paid = {await pay(adapter, control, amount_fen, day): amount_fen for amount_fen in fees}
    first = next(iter(paid))
    if refund is not None:
        await adapter.refund(RefundRequest(first, "RS1", paid[first], refund[0]))
        await settled_ledger(control, first)
    for out_trade_no in paid:
        await backdate(control, out_trade_no, 1)

    bill = await adapter.download_bill(yesterday())

    assert bill.bad_lines == []
    charged = {
        entry.out_trade_no: (entry.amount_fen, entry.fee_fen) for entry in bill.entries if entry.kind == "payment"
    }
    assert charged == {out_trade_no: (amount_fen, fees[amount_fen]) for out_trade_no, amount_fen in paid.items()}
    given_back = [(entry.amount_fen, entry.fee_fen) for entry in bill.entries if entry.kind == "refund"]
    assert given_back == ([] if refund is None else [refund])


async def plant(control: SimControl, day: date, kind: str, **fields: Any) -> dict[str, Any]:
    response = await control.http.post(
        f"{control.base_url}/_sim/bill/plants", json={"date": day.isoformat(), "kind": kind, **fields}
    )
    assert response.status_code == 201, response.text
    planted: dict[str, Any] = response.json()
    return planted


async def every_plant_shows(adapter: ChannelAdapter, control: SimControl, fees: FeeTerms) -> None:
    """Each kind of planted difference shows in the parsed bill, and only what was planted changes."""
    day = await test_day(adapter, control)
    before = {row(entry) for entry in (await adapter.download_bill(yesterday())).entries}
    refunded_fee = fee_fen(10_000, fees.rate_bp)

    invented = await plant(control, yesterday(), "missing_here", out_trade_no="INVENTED-1", amount_fen=4_321)
    dropped = await plant(control, yesterday(), "missing_at_channel", out_trade_no=day.kept)
    await plant(control, yesterday(), "amount_differs", out_trade_no=day.refunded)
    await plant(control, yesterday(), "fee_differs", out_trade_no=day.refunded)
    flipped = await plant(control, yesterday(), "status_differs", out_trade_no=day.reversed_)
    bill = await adapter.download_bill(yesterday())

    assert bill.bad_lines == []
    assert (invented["out_trade_no"], invented["amount_fen"], invented["status"]) == ("INVENTED-1", 4_321, "SUCCESS")
    assert (dropped["out_trade_no"], dropped["amount_fen"]) == (day.kept, 333)
    assert flipped["status"] == "SUCCESS"
    trade = day.trade_nos
    old_refunded = ("payment", day.refunded, trade[day.refunded], 10_000, refunded_fee, "SUCCESS", None, None)
    old_kept = ("payment", day.kept, trade[day.kept], 333, fee_fen(333, fees.rate_bp), "SUCCESS", None, None)
    old_reversed = ("payment", day.reversed_, trade[day.reversed_], 2_000, 0, "REVOKED", None, None)
    new_refunded = ("payment", day.refunded, trade[day.refunded], 10_001, refunded_fee + 1, "SUCCESS", None, None)
    new_reversed = ("payment", day.reversed_, trade[day.reversed_], 2_000, 0, "SUCCESS", None, None)
    new_invented = (
        "payment",
        "INVENTED-1",
        invented["channel_trade_no"],
        4_321,
        fee_fen(4_321, fees.rate_bp),
        "SUCCESS",
        None,
        None,
    )
    after = {row(entry) for entry in bill.entries}
    assert before - after == {old_refunded, old_kept, old_reversed}
    assert after - before == {new_refunded, new_reversed, new_invented}

    response = await control.http.delete(f"{control.base_url}/_sim/bill/plants")
    assert response.json() == {"cleared": 5}
    assert {row(entry) for entry in (await adapter.download_bill(yesterday())).entries} == before


async def status_plant_on_a_kept_payment(adapter: ChannelAdapter, control: SimControl, fees: FeeTerms) -> None:
    """SUCCESS -> REVOKED changes the status alone: the fee stays what the channel charged."""
    day = await test_day(adapter, control)
    await plant(control, yesterday(), "status_differs", out_trade_no=day.kept)
    bill = await adapter.download_bill(yesterday())
    kept = [row(entry) for entry in bill.entries if entry.out_trade_no == day.kept]
    assert kept == [
        ("payment", day.kept, day.trade_nos[day.kept], 333, fee_fen(333, fees.rate_bp), "REVOKED", None, None)
    ]


async def plant_refusals(control: SimControl) -> None:
    """Plants must name a kind, a date, and (but for missing_here) a payment on that day's bill."""
    url = f"{control.base_url}/_sim/bill/plants"
    day = yesterday().isoformat()
    cases = [
        ({"date": day, "kind": "no_such_kind"}, 400),
        ({"date": "yesterday", "kind": "missing_here"}, 400),
        ({"date": day, "kind": "amount_differs"}, 400),
        ({"date": day, "kind": "amount_differs", "out_trade_no": "NOT-ON-THE-BILL"}, 404),
        ({"date": day, "kind": "missing_here", "amount_fen": 0}, 400),
    ]
    for body, status in cases:
        assert (await control.http.post(url, json=body)).status_code == status, body
    assert (await control.http.get(url)).json() == {"plants": []}
    invented = (await control.http.post(url, json={"date": day, "kind": "missing_here", "amount_fen": 321})).json()
    [listed] = (await control.http.get(url)).json()["plants"]
    assert listed == {
        "date": day,
        "kind": "missing_here",
        "out_trade_no": invented["out_trade_no"],
        "channel_trade_no": invented["channel_trade_no"],
        "amount_fen": 321,
        "fee_fen": None,
    }
    assert (await control.http.delete(url)).json() == {"cleared": 1}
