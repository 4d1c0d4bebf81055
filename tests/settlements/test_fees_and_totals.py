"""Fees rounded half up in integers, and a batch's totals: what the slip and the settlement say add up."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.domain.channels import Channel
from gateway.domain.errors import InvalidInput
from gateway.domain.fees import MAX_RATE_BP, check_rate, fee_fen
from gateway.domain.settlements import BatchPayment, BatchRefund, BatchTotals, batch_totals


@pytest.mark.parametrize(
    ("amount_fen", "rate_bp", "fee"),
    [
        (1250, 60, 8),  # 7.5 fen: half up
        (1249, 60, 7),  # 7.494
        (10_000, 38, 38),
        (150, 60, 0),  # 0.9 fen: under 1 fen is no fee
        (167, 60, 1),  # 1.002
        (1, MAX_RATE_BP, 1),
        (99_999_999, 60, 600_000),  # 599,999.994 fen: integers only
        (5000, 0, 0),
    ],
)
def test_fee_is_amount_times_rate_rounded_half_up(amount_fen: int, rate_bp: int, fee: int) -> None:
    assert fee_fen(amount_fen, rate_bp) == fee


@pytest.mark.parametrize("rate_bp", [-1, MAX_RATE_BP + 1])
def test_a_rate_outside_0_to_10000_bp_is_refused(rate_bp: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_rate(rate_bp)
    assert refused.value.code == "invalid_fee_rate"
    assert check_rate(0) == 0 and check_rate(MAX_RATE_BP) == MAX_RATE_BP


channels = st.sampled_from(list(Channel))
amounts = st.integers(min_value=1, max_value=10_000_000)
payments = st.lists(st.builds(BatchPayment, channels, amounts, st.integers(0, 60_000)), max_size=40)
refunds = st.lists(st.builds(BatchRefund, channels, st.booleans(), amounts, st.integers(0, 60_000)), max_size=40)


@given(payments, refunds)
def test_totals_are_the_sums_of_the_batch_per_channel_and_overall(
    paid: list[BatchPayment], given_back: list[BatchRefund]
) -> None:
    totals = batch_totals(paid, given_back)
    for channel in {p.channel for p in paid} | {r.channel for r in given_back}:
        mine = totals.channels[channel]
        assert mine.payments.count == sum(1 for p in paid if p.channel == channel)
        assert mine.payments.amount_fen == sum(p.amount_fen for p in paid if p.channel == channel)
        voids = [r for r in given_back if r.channel == channel and r.is_void]
        assert (mine.voids.count, mine.voids.amount_fen) == (len(voids), sum(r.amount_fen for r in voids))
        charged = sum(p.fee_fen for p in paid if p.channel == channel)
        assert mine.fees_fen == charged - sum(r.fee_back_fen for r in given_back if r.channel == channel)
    whole = totals.total
    assert whole.payments.amount_fen == sum(t.payments.amount_fen for t in totals.channels.values())
    assert whole.refunds.count + whole.voids.count == len(given_back)
    assert whole.net_fen == sum(t.net_fen for t in totals.channels.values())
    assert whole.net_fen == (
        sum(p.amount_fen - p.fee_fen for p in paid) - sum(r.amount_fen - r.fee_back_fen for r in given_back)
    )
    assert BatchTotals.from_json(totals.as_json()) == totals  # what is stored reads back the same
