"""The simulators' fees follow the gateway's rule: amount x rate rounded half up to the fen, under 1 fen no fee."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.simcore.fees import MAX_RATE_BP, fee_fen, rate_percent


@pytest.mark.parametrize(
    ("amount_fen", "rate_bp", "fee"),
    [
        (1_250, 60, 8),  # 7.5 fen: half up
        (1_249, 60, 7),  # 7.494
        (250, 60, 2),  # exactly 1.5 fen: half up
        (100, 60, 0),  # 0.6 fen: between half a fen and 1 fen is still no fee
        (150, 60, 0),  # 0.9 fen
        (84, 60, 0),  # 0.504 fen
        (167, 60, 1),  # 1.002 fen
        (200, 38, 0),  # 0.76 fen at UnionPay's default rate
        (2_500, 38, 10),  # 9.5 fen
        (10_000, 38, 38),
        (1, MAX_RATE_BP, 1),
        (99_999_999, 60, 600_000),  # 599,999.994 fen: integers only
        (5_000, 0, 0),
        (0, 60, 0),
    ],
)
def test_fee_is_amount_times_rate_rounded_half_up_and_nothing_under_1_fen(
    amount_fen: int, rate_bp: int, fee: int
) -> None:
    assert fee_fen(amount_fen, rate_bp) == fee


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=MAX_RATE_BP))
def test_fee_agrees_with_the_rule_in_exact_fractions(amount_fen: int, rate_bp: int) -> None:
    exact = Fraction(amount_fen * rate_bp, 10_000)
    expected = 0 if exact < 1 else math.floor(exact + Fraction(1, 2))
    assert fee_fen(amount_fen, rate_bp) == expected


@pytest.mark.parametrize(("amount_fen", "rate_bp"), [(-1, 60), (100, -1), (100, MAX_RATE_BP + 1)])
def test_negative_amounts_and_rates_outside_0_to_10000_bp_are_refused(amount_fen: int, rate_bp: int) -> None:
    with pytest.raises(ValueError):
        fee_fen(amount_fen, rate_bp)


@pytest.mark.parametrize(("rate_bp", "text"), [(60, "0.60%"), (38, "0.38%"), (0, "0.00%"), (MAX_RATE_BP, "100.00%")])
def test_bills_write_the_rate_as_a_percentage(rate_bp: int, text: str) -> None:
    assert rate_percent(rate_bp) == text
