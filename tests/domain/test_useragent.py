"""Aggregate-code routing by the scanning app's User-Agent, against CHANNELS.md section 2."""

from __future__ import annotations

import pytest

from gateway.domain.channels import Channel
from gateway.domain.useragent import ScanningApp, classify_user_agent

WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.43(0x18002b2c) NetType/WIFI Language/zh_CN"
)
ALIPAY_UA = (
    "Mozilla/5.0 (Linux; Android 13; V2197A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/105.0 "
    "Mobile Safari/537.36 AlipayChannelId/5136 AlipayClient/10.5.36.8000 Language/zh-Hans"
)
ALIPAY_HK_UA = "Mozilla/5.0 (Linux; Android 12) AppleWebKit/537.36 AlipayClientHK/15.2.1"
CLOUDPAY_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 16_0 like Mac OS X) Mobile/15E148 UnionPay/1.0 CloudPay"


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (WECHAT_UA, ScanningApp(Channel.WECHAT)),
        (ALIPAY_UA, ScanningApp(Channel.ALIPAY)),
        (ALIPAY_HK_UA, ScanningApp(Channel.ALIPAY)),
        (CLOUDPAY_UA, ScanningApp(Channel.UNIONPAY, "CloudPay")),
        ("Mozilla/5.0 (Linux) UnionPay/1.0 CCBLoongPay", ScanningApp(Channel.UNIONPAY, "CCBLoongPay")),
        ("Mozilla/5.0 UnionPay/1.0 JDJR", ScanningApp(Channel.UNIONPAY, "JDJR")),
        ("Mozilla/5.0 UnionPay/1.0 PSBC", ScanningApp(Channel.UNIONPAY, "PSBC")),
        ("Mozilla/5.0 UnionPay/1.0 BoComMDB", ScanningApp(Channel.UNIONPAY, "BoComMDB")),
        ("Mozilla/5.0 UnionPay/1.0", ScanningApp(Channel.UNIONPAY, "CloudPay")),  # no app id: the default
        # WeChat is checked first: an in-WeChat page whose UA also mentions AlipayClient is WeChat's.
        (WECHAT_UA + " AlipayClient/10.0", ScanningApp(Channel.WECHAT)),
    ],
)
def test_wallet_apps(user_agent: str, expected: ScanningApp) -> None:
    assert classify_user_agent(user_agent) == expected


@pytest.mark.parametrize(
    "user_agent",
    [None, "", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36", "curl/8.5.0", "QQ/8.9.0 V1_IPH_SQ"],
)
def test_other_apps(user_agent: str | None) -> None:
    assert classify_user_agent(user_agent) is None
