"""C-scan-B rules: the channel a code is for, its lifetime, the sweep's rhythm."""

from __future__ import annotations

import pytest

from gateway.domain.channels import Channel
from gateway.domain.errors import InvalidInput
from gateway.domain.qr import (
    DEFAULT_EXPIRY_S,
    MAX_EXPIRY_S,
    MIN_EXPIRY_S,
    SWEEP_DELAYS_S,
    parse_qr_channel,
    sweep_delay,
    validate_expiry,
)


def test_channels_and_the_aggregate_code() -> None:
    assert [parse_qr_channel(name) for name in ("wechat", "alipay", "unionpay")] == list(Channel)
    assert parse_qr_channel("aggregate") is None


@pytest.mark.parametrize("name", ["", "Wechat", "paypal", "aggregate ", "jd"])
def test_other_channels_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_qr_channel(name)
    assert refused.value.code == "unknown_channel"


def test_expiry_defaults_to_two_hours_and_stays_within_the_channels_limits() -> None:
    assert validate_expiry(None) == DEFAULT_EXPIRY_S == 7200
    assert validate_expiry(MIN_EXPIRY_S) == 60 and validate_expiry(MAX_EXPIRY_S) == 7200
    for bad in (0, 59, 7201, -1, True):
        with pytest.raises(InvalidInput) as refused:
            validate_expiry(bad)
        assert refused.value.code == "invalid_expiry"


def test_the_sweep_backs_off_and_then_keeps_its_last_delay() -> None:
    assert [sweep_delay(n) for n in range(len(SWEEP_DELAYS_S))] == list(SWEEP_DELAYS_S)
    assert sweep_delay(100) == SWEEP_DELAYS_S[-1]
