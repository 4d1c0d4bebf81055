"""Channel fees in integer fen: a rate in basis points, rounded half up to the fen (the one place this is computed).

The rule is the gateway's own (gateway/domain/fees.py), repeated here because adapters never import the gateway:
a simulated channel must charge exactly what the gateway expects, or every small payment is a fee difference.
"""

from __future__ import annotations

MAX_RATE_BP = 10_000  # 100 %


def fee_fen(amount_fen: int, rate_bp: int) -> int:
    """`amount_fen` x `rate_bp` / 10000 rounded half up to the fen, in integers; a fee under 1 fen is 0.

    1,250 fen at 60 bp is 7.5 -> 8 fen; 250 fen at 60 bp is 1.5 -> 2 fen; 150 fen at 60 bp is 0.9 fen: no fee.
    The fee of a payment, and the fee given back on a refund of `amount_fen` where the channel gives fees back.
    """
    if amount_fen < 0:
        raise ValueError(f"an amount is >= 0 fen, not {amount_fen}")
    if not 0 <= rate_bp <= MAX_RATE_BP:
        raise ValueError(f"a fee rate is 0-{MAX_RATE_BP} basis points, not {rate_bp}")
    exact = amount_fen * rate_bp  # in 1/10,000 fen
    if exact < MAX_RATE_BP:
        return 0
    return (exact + MAX_RATE_BP // 2) // MAX_RATE_BP


def rate_percent(rate_bp: int) -> str:
    """A rate in basis points as the bills write it: 60 -> `0.60%`."""
    return f"{rate_bp // 100}.{rate_bp % 100:02d}%"
