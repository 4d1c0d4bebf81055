"""The wechat simulator's daily bill through the adapter's HTTP client: fees, refunds, reversals, no bill, plants."""

from __future__ import annotations

import pytest

from adapters.protocol import BillNotReady
from adapters.simcore.app import ChannelSimulator
from adapters.wechat.client import WechatAdapter
from tests.adapters import bill_scenarios as scenarios
from tests.support.simcontrol import SimControl

FEES = scenarios.FeeTerms(rate_bp=60, refund_returns_fee=True)


async def test_round_trip(adapter: WechatAdapter, control: SimControl) -> None:
    await scenarios.round_trip(adapter, control, FEES, channel_refund_nos=True)


async def test_no_bill_for_today_or_later(adapter: WechatAdapter, control: SimControl) -> None:
    await scenarios.no_bill_for_today_or_later(adapter, control)


async def test_todays_bill_when_the_settings_say_so(
    adapter: WechatAdapter, control: SimControl, simulator: ChannelSimulator
) -> None:
    await scenarios.todays_bill_when_the_settings_say_so(adapter, control, simulator)


async def test_small_fees_round_like_the_gateway(adapter: WechatAdapter, control: SimControl) -> None:
    """1.5 fen is 2; 0.6 and 0.9 fen are no fee; 7.5 fen is 8; a 0.6-fen share of a refund gives nothing back."""
    await scenarios.small_fees_round_like_the_gateway(
        adapter, control, {250: 2, 100: 0, 150: 0, 1_250: 8}, refund=(100, 0)
    )


async def test_every_plant_shows(adapter: WechatAdapter, control: SimControl) -> None:
    await scenarios.every_plant_shows(adapter, control, FEES)


async def test_status_plant_on_a_kept_payment(adapter: WechatAdapter, control: SimControl) -> None:
    await scenarios.status_plant_on_a_kept_payment(adapter, control, FEES)


async def test_plant_refusals(control: SimControl) -> None:
    await scenarios.plant_refusals(control)


async def test_a_past_day_without_trades_has_no_bill(adapter: WechatAdapter, control: SimControl) -> None:
    """WeChat builds no bill for a day without transactions: the same 20002 as a day not over yet."""
    await scenarios.pay(adapter, control, 500, scenarios.TestDay())
    with pytest.raises(BillNotReady) as raised:
        await adapter.download_bill(scenarios.yesterday())
    assert raised.value.code == "20002"
