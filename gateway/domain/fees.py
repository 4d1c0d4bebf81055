"""Channel fees: a rate in basis points, the fee of an amount rounded half up to the fen, and the rate's bounds."""

from __future__ import annotations

from gateway.domain.channels import Channel
from gateway.domain.errors import InvalidInput

#: 10,000 basis points are 100 %.
MAX_RATE_BP = 10_000
#: The usual rates of the channels' standard merchant contracts (a merchant's own contract may say otherwise).
DEFAULT_FEE_RATES_BP = {Channel.WECHAT: 60, Channel.ALIPAY: 60, Channel.UNIONPAY: 38}
#: WeChat and Alipay give the fee back in proportion to a refund; UnionPay keeps it.
DEFAULT_REFUND_RETURNS_FEE = {Channel.WECHAT: True, Channel.ALIPAY: True, Channel.UNIONPAY: False}


def fee_fen(amount_fen: int, rate_bp: int) -> int:
    """amount x rate rounded half up to the fen, in integers: 1,250 fen at 60 bp is 7.5 -> 8 fen; a fee under 1 fen
    is 0 (150 fen at 60 bp is 0.9 fen: no fee)."""
    exact = amount_fen * rate_bp  # in 1/10,000 fen
    if exact < MAX_RATE_BP:
        return 0
    return (exact + MAX_RATE_BP // 2) // MAX_RATE_BP


def check_rate(rate_bp: int) -> int:
    """A rate from 0 to 10,000 bp; 422 `invalid_fee_rate` else."""
    if not 0 <= rate_bp <= MAX_RATE_BP:
        raise InvalidInput(f"a fee rate is 0 to {MAX_RATE_BP} basis points, not {rate_bp}", code="invalid_fee_rate")
    return rate_bp
