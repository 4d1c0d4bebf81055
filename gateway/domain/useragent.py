"""Which wallet app scanned an aggregate code, from its User-Agent (CHANNELS.md section 2)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.domain.channels import Channel


@dataclass(frozen=True)
class ScanningApp:
    """The app that opened the aggregate code; `app_id` is UnionPay's appUpIdentifier when relevant."""

    channel: Channel
    app_id: str | None = None


_UNIONPAY = re.compile(r"UnionPay/(\S+)(?:\s+(\w+))?")

#: (User-Agent marker, channel), tested in this order.
UA_RULES: tuple[tuple[str, Channel], ...] = (
    ("MicroMessenger", Channel.WECHAT),
    ("AlipayClient", Channel.ALIPAY),
    ("UnionPay/", Channel.UNIONPAY),
)


def classify_user_agent(user_agent: str | None) -> ScanningApp | None:
    """The scanning app, or None when the code was opened by something else (a browser, a camera app)."""
    if not user_agent:
        return None
    for marker, channel in UA_RULES:
        if marker in user_agent:
            if channel is Channel.UNIONPAY:
                return ScanningApp(channel, _union_pay_app_id(user_agent))
            return ScanningApp(channel)
    return None


def _union_pay_app_id(user_agent: str) -> str:
    match = _UNIONPAY.search(user_agent)
    if match is None or match.group(2) is None:
        return "CloudPay"  # the documented default appUpIdentifier
    return match.group(2)
