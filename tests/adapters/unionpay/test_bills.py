"""The unionpay simulator's daily bill through the adapter's HTTP client: fees, refunds, reversals, no bill, plants."""

from __future__ import annotations

import pytest

from adapters.protocol import BillNotReady
from adapters.simcore.app import ChannelSimulator
from adapters.unionpay.client import UnionpayAdapter
from tests.adapters import bill_scenarios as scenarios
from tests.support.simcontrol import SimControl

FEES = scenarios.FeeTerms(rate_bp=38, refund_returns_fee=False)


async def test_round_trip(adapter: UnionpayAdapter, control: SimControl) -> None:
    await scenarios.round_trip(adapter, control, FEES, channel_refund_nos=True)


async def test_no_bill_for_today_or_later(adapter: UnionpayAdapter, control: SimControl) -> None:
    await scenarios.no_bill_for_today_or_later(adapter, control)


async def test_todays_bill_when_the_settings_say_so(
    adapter: UnionpayAdapter, control: SimControl, simulator: ChannelSimulator
) -> None:
    await scenarios.todays_bill_when_the_settings_say_so(adapter, control, simulator)


async def test_small_fees_round_like_the_gateway(adapter: UnionpayAdapter, control: SimControl) -> None:
    """At 0.38 %: 9.5 fen is 10, 0.76 fen is no fee, 3.8 fen is 4; a refund gives no fee back."""
    await scenarios.small_fees_round_like_the_gateway(
        adapter, control, {2_500: 10, 200: 0, 1_000: 4}, refund=(1_000, 0)
    )


async def test_every_plant_shows(adapter: UnionpayAdapter, control: SimControl) -> None:
    await scenarios.every_plant_shows(adapter, control, FEES)


async def test_status_plant_on_a_kept_payment(adapter: UnionpayAdapter, control: SimControl) -> None:
    await scenarios.status_plant_on_a_kept_payment(adapter, control, FEES)


async def test_plant_refusals(control: SimControl) -> None:
    await scenarios.plant_refusals(control)


async def test_a_past_day_without_trades_has_an_empty_bill(adapter: UnionpayAdapter, control: SimControl) -> None:
    await scenarios.pay(adapter, control, 500, scenarios.TestDay())
    bill = await adapter.download_bill(scenarios.yesterday())
    assert (bill.day, bill.entries, bill.bad_lines) == (scenarios.yesterday(), [], [])


async def test_today_is_file_not_found(adapter: UnionpayAdapter) -> None:
    with pytest.raises(BillNotReady) as raised:
        await adapter.download_bill(scenarios.beijing_today())
    assert raised.value.code == "98"
