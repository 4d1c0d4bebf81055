"""Payment-code routing by prefix and length, against CHANNELS.md section 1."""

from __future__ import annotations

import pytest

from gateway.domain.channels import Channel
from gateway.domain.codes import classify_payment_code, mask_payment_code
from gateway.domain.errors import MalformedPaymentCode, UnsupportedPaymentCode


@pytest.mark.parametrize(
    ("code", "channel"),
    [
        ("134567890123456789", Channel.WECHAT),  # 18 digits, 13
        ("104567890123456789", Channel.WECHAT),  # lowest prefix 10
        ("154567890123456789", Channel.WECHAT),  # 15: Hong Kong users
        ("2812345678901234", Channel.ALIPAY),  # 16 digits, shortest Alipay
        ("281234567890123456", Channel.ALIPAY),  # 18 digits
        ("301234567890123456789012", Channel.ALIPAY),  # 24 digits, prefix 30
        ("251234567890123456", Channel.ALIPAY),  # lowest prefix 25
        ("6212345678901234567", Channel.UNIONPAY),  # 19 digits, 62
        (" 134567890123456789\n", Channel.WECHAT),  # scanners add whitespace
    ],
)
def test_supported_codes(code: str, channel: Channel) -> None:
    assert classify_payment_code(code) is channel


@pytest.mark.parametrize(
    "code",
    [
        "0112345678901234567",  # e-CNY: recognised, not supported
        "164567890123456789",  # WeChat-length but prefix 16
        "134567890123456789012",  # WeChat prefix but 21 digits, and 13 is no Alipay prefix
        "311234567890123456",  # prefix 31
        "621234567890123456",  # UnionPay prefix, 18 digits
        "9112345678901234567",  # nobody's
    ],
)
def test_unsupported_codes(code: str) -> None:
    with pytest.raises(UnsupportedPaymentCode):
        classify_payment_code(code)


@pytest.mark.parametrize(
    "code",
    ["", "13456789012345678a", "https://example.com/pay", "123456789012345", "1" * 25, "1345 6789 0123 4567"],
)
def test_malformed_codes(code: str) -> None:
    with pytest.raises(MalformedPaymentCode):
        classify_payment_code(code)


@pytest.mark.parametrize(
    "code",
    [
        "13" + "\u0664" * 16,  # Arabic-Indic digits: str.isdigit() says yes, no wallet issues them
        "\uff11\uff13" + "\uff10" * 16,  # fullwidth digits
        "1345678901234567\u0660\u0660",  # a real prefix with two non-ASCII digits at the end
    ],
)
def test_codes_are_ascii_digits_only(code: str) -> None:
    assert code[2:].isdigit()
    with pytest.raises(MalformedPaymentCode):
        classify_payment_code(code)


def test_mask_keeps_only_the_ends() -> None:
    assert mask_payment_code("134567890123456789") == "1345**********6789"
    assert mask_payment_code("1234") == "****"
