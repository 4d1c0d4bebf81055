"""The payment channels the gateway routes to."""

from enum import StrEnum


class Channel(StrEnum):
    """A payment channel; the values are the adapter names."""

    WECHAT = "wechat"
    ALIPAY = "alipay"
    UNIONPAY = "unionpay"
