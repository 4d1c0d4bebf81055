"""Payment notifications as the simulator writes them: what the adapter accepts, refuses and answers."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from adapters.protocol import NotificationInvalid, PrecreateRequest, TradeStatus
from adapters.wechat.client import WechatAdapter, WechatConfig
from adapters.wechat.signing import SignType, signed
from adapters.wechat.simulator import WechatSimulator, is_notification_ack
from adapters.wechat.wire import decode_xml, encode_xml
from tests.support.simcontrol import SimControl, order_no


async def paid_native_notification(
    adapter: WechatAdapter, control: SimControl, simulator: WechatSimulator, amount_fen: int = 1_011
) -> tuple[bytes, str]:
    """The body the simulator sends for a paid NATIVE order (amount ending 11: it never sends it by itself)."""
    request = PrecreateRequest(
        order_no("N"), amount_fen, "lunch", "http://127.0.0.1:9/n", datetime.now(UTC) + timedelta(minutes=5)
    )
    await control.scan((await adapter.precreate(request)).code_url)
    body, content_type = simulator.payment_notification(simulator.bank.orders[request.out_trade_no]).build()
    return body, content_type


async def test_genuine_notification_is_accepted(
    adapter: WechatAdapter, control: SimControl, simulator: WechatSimulator
) -> None:
    body, content_type = await paid_native_notification(adapter, control, simulator)

    notification = adapter.parse_notification(body, content_type)

    assert content_type == "text/xml"
    assert (notification.trade.status, notification.trade.amount_fen) == (TradeStatus.PAID, 1_011)
    assert notification.app_id == "wxd930ea5d5a258f4f"
    assert notification.trade.channel_trade_no == simulator.bank.ledger[0].reference
    assert notification.trade.payer_id is not None


async def test_hmac_order_gets_an_hmac_notification(
    config: WechatConfig, http: httpx.AsyncClient, control: SimControl, simulator: WechatSimulator
) -> None:
    adapter = WechatAdapter(dataclasses.replace(config, sign_type="HMAC-SHA256"), http)
    body, content_type = await paid_native_notification(adapter, control, simulator)

    assert decode_xml(body)["sign_type"] == "HMAC-SHA256"
    assert adapter.parse_notification(body, content_type).trade.status is TradeStatus.PAID


def tampered(body: bytes, **changes: str) -> bytes:
    return encode_xml({**decode_xml(body), **changes})


async def test_forged_notifications_are_refused(
    adapter: WechatAdapter, control: SimControl, simulator: WechatSimulator, config: WechatConfig
) -> None:
    body, _ = await paid_native_notification(adapter, control, simulator)
    fields = decode_xml(body)
    other_merchant = signed({**fields, "appid": "wx0000000000000000"}, config.api_key, SignType.MD5)
    forged = {
        "tampered amount": tampered(body, total_fee="1"),
        "wrong key": encode_xml(signed(fields, "k" * 32, SignType.MD5)),
        "other merchant": encode_xml(other_merchant),
        "unknown sign type": tampered(body, sign_type="RSA"),
        "return_code FAIL": tampered(body, return_code="FAIL"),
        "not xml": b"total_fee=1",
        "no out_trade_no": encode_xml(signed({**fields, "out_trade_no": ""}, config.api_key, SignType.MD5)),
    }

    refused = []
    for name, forgery in forged.items():
        with pytest.raises(NotificationInvalid):
            adapter.parse_notification(forgery, "text/xml")
        refused.append(name)

    assert refused == list(forged)


def test_acknowledgements_are_wechats_exact_xml(adapter: WechatAdapter) -> None:
    yes, no = adapter.notification_ack(True), adapter.notification_ack(False)

    assert (yes.status_code, yes.media_type) == (200, "text/xml")
    assert (
        yes.body == b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
    )
    assert decode_xml(no.body)["return_code"] == "FAIL"
    assert is_notification_ack(yes.status_code, yes.body)
    assert not is_notification_ack(no.status_code, no.body)
    assert not is_notification_ack(500, yes.body)
    assert not is_notification_ack(200, b"success")
