"""Payment-code classification and masking for decoded symbol text (camera-side copy of the wallet rules)."""

from __future__ import annotations

import re
from enum import StrEnum


class Wallet(StrEnum):
    WECHAT = "wechat"
    ALIPAY = "alipay"
    UNIONPAY = "unionpay"


class CodeKind(StrEnum):
    PAYMENT_CODE = "payment_code"
    UNSUPPORTED_WALLET = "unsupported_wallet"
    NOT_PAYMENT_CODE = "not_payment_code"


_WALLET_PATTERNS: tuple[tuple[Wallet, re.Pattern[str]], ...] = (
    (Wallet.WECHAT, re.compile(r"1[0-5]\d{16}")),
    (Wallet.ALIPAY, re.compile(r"(2[5-9]|30)\d{14,22}")),
    (Wallet.UNIONPAY, re.compile(r"62\d{17}")),
)
# Wallet auth codes are 16-24 digits; a digit string of that length with an unknown prefix is most
# likely another wallet's code, which deserves a different message than a URL does.
_AUTH_CODE_SHAPE = re.compile(r"\d{16,24}")


def wallet_of(text: str) -> Wallet | None:
    """Return the wallet whose payment-code shape `text` matches exactly, or None."""
    for wallet, pattern in _WALLET_PATTERNS:
        if pattern.fullmatch(text):
            return wallet
    return None


def classify(text: str) -> CodeKind:
    if wallet_of(text) is not None:
        return CodeKind.PAYMENT_CODE
    if _AUTH_CODE_SHAPE.fullmatch(text):
        return CodeKind.UNSUPPORTED_WALLET
    return CodeKind.NOT_PAYMENT_CODE


def mask(text: str) -> str:
    """Mask a code for logs: payment codes are credentials, so only the first and last four survive."""
    if len(text) <= 8:
        return "*" * len(text)
    return f"{text[:4]}{'*' * (len(text) - 8)}{text[-4:]}"
