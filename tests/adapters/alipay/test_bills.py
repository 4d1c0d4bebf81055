"""The alipay simulator's daily bill through the adapter's HTTP client: fees, refunds, reversals, no bill, plants."""

from __future__ import annotations

from adapters.alipay.client import AlipayAdapter
from adapters.simcore.app import ChannelSimulator
from tests.adapters import bill_scenarios as scenarios
from tests.support.simcontrol import SimControl

FEES = scenarios.FeeTerms(rate_bp=60, refund_returns_fee=True)


async def test_round_trip(adapter: AlipayAdapter, control: SimControl) -> None:
    await scenarios.round_trip(adapter, control, FEES, channel_refund_nos=False)


async def test_no_bill_for_today_or_later(adapter: AlipayAdapter, control: SimControl) -> None:
    await scenarios.no_bill_for_today_or_later(adapter, control)


async def test_todays_bill_when_the_settings_say_so(
    adapter: AlipayAdapter, control: SimControl, simulator: ChannelSimulator
) -> None:
    await scenarios.todays_bill_when_the_settings_say_so(adapter, control, simulator)


async def test_small_fees_round_like_the_gateway(adapter: AlipayAdapter, control: SimControl) -> None:
    """1.5 fen is 2; 0.6 and 0.9 fen are no fee; 7.5 fen is 8; a 0.6-fen share of a refund gives nothing back."""
    await scenarios.small_fees_round_like_the_gateway(
        adapter, control, {250: 2, 100: 0, 150: 0, 1_250: 8}, refund=(100, 0)
    )


async def test_every_plant_shows(adapter: AlipayAdapter, control: SimControl) -> None:
    await scenarios.every_plant_shows(adapter, control, FEES)


async def test_status_plant_on_a_kept_payment(adapter: AlipayAdapter, control: SimControl) -> None:
    await scenarios.status_plant_on_a_kept_payment(adapter, control, FEES)


async def test_plant_refusals(control: SimControl) -> None:
    await scenarios.plant_refusals(control)
