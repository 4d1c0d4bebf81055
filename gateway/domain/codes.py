"""Which wallet a customer's payment code belongs to, by its prefix and length (CHANNELS.md section 1)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.domain.channels import Channel
from gateway.domain.errors import MalformedPaymentCode, UnsupportedPaymentCode


@dataclass(frozen=True)
class CodeRule:
    """A wallet's payment-code shape; `channel` None means recognised but not supported."""

    wallet: str
    pattern: re.Pattern[str]
    channel: Channel | None


#: Tested in this order; the first match wins.
CODE_RULES: tuple[CodeRule, ...] = (
    CodeRule("WeChat Pay", re.compile(r"1[0-5]\d{16}", re.ASCII), Channel.WECHAT),
    CodeRule("Alipay", re.compile(r"(2[5-9]|30)\d{14,22}", re.ASCII), Channel.ALIPAY),
    CodeRule("UnionPay", re.compile(r"62\d{17}", re.ASCII), Channel.UNIONPAY),
    CodeRule("e-CNY", re.compile(r"01\d{17}", re.ASCII), None),
)

#: ASCII digits only: `\d` alone also takes Arabic-Indic or fullwidth digits, which no wallet issues.
_PAYMENT_CODE_SHAPE = re.compile(r"\d{16,24}", re.ASCII)


def classify_payment_code(raw: str) -> Channel:
    """The channel to charge for a payment code; raises before any channel could be called."""
    code = raw.strip()
    if not _PAYMENT_CODE_SHAPE.fullmatch(code):
        raise MalformedPaymentCode("a payment code is 16 to 24 ASCII digits")
    for rule in CODE_RULES:
        if rule.pattern.fullmatch(code):
            if rule.channel is None:
                raise UnsupportedPaymentCode(f"{rule.wallet} payment codes are not supported")
            return rule.channel
    raise UnsupportedPaymentCode("this payment code belongs to no supported wallet")


def mask_payment_code(code: str) -> str:
    """Show the first 4 and last 4 digits only: payment codes are credentials."""
    if len(code) <= 8:
        return "*" * len(code)
    return f"{code[:4]}{'*' * (len(code) - 8)}{code[-4:]}"
