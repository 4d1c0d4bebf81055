"""WeChat refunds end to end: every refund fault row, the ledger, the limits, and the encrypted refund notification."""

from __future__ import annotations

import base64

import pytest
from wechatpy.crypto import RefundCrypto, WeChatRefundCrypto
from wechatpy.pay import WeChatPay

from adapters.protocol import NotificationInvalid, RefundRejected, RefundStatus
from adapters.wechat.client import WechatAdapter, WechatConfig
from adapters.wechat.refund_notify import encrypt_req_info, req_info_key
from adapters.wechat.wire import decode_xml, encode_xml
from tests.adapters import refund_scenarios as scenarios
from tests.adapters.refund_support import RefundKit, settled_ledger

CODES = scenarios.RefundCodes(
    rejected="USER_ACCOUNT_ABNORMAL",
    unknown="SYSTEMERROR",
    merchant_balance="NOTENOUGH",
    over_amount="ERROR",
    other_amount="REFUND_FEE_MISMATCH",
    overdue="TRADE_OVERDUE",
    window_days=365,
)


@pytest.mark.parametrize(("refund_fen", "code"), [(1_021, CODES.rejected), (1_023, CODES.merchant_balance)])
async def test_refused_rows(refund_kit: RefundKit, refund_fen: int, code: str) -> None:
    await scenarios.refused(refund_kit, refund_fen, code)


async def test_00_finishes_later(refund_kit: RefundKit) -> None:
    await scenarios.finishes_later(refund_kit)


async def test_22_system_error_then_success(refund_kit: RefundKit) -> None:
    await scenarios.unknown_then_success(refund_kit, CODES.unknown)


async def test_24_finishes_only_after_queries(refund_kit: RefundKit) -> None:
    await scenarios.finishes_only_after_queries(refund_kit)


async def test_25_finishes_only_by_notification(refund_kit: RefundKit) -> None:
    await scenarios.finishes_only_by_notification(refund_kit)


async def test_26_finishes_only_by_query(refund_kit: RefundKit) -> None:
    await scenarios.finishes_only_by_query(refund_kit)


async def test_27_fails_later(refund_kit: RefundKit) -> None:
    await scenarios.fails_later(refund_kit)
    assert refund_kit.notified("R27")[0].raw["refund_status"] == "CHANGE"


async def test_concurrent_identical_refunds(refund_kit: RefundKit) -> None:
    await scenarios.concurrent_identical_refunds_move_money_once(refund_kit)


async def test_concurrent_partial_refunds(refund_kit: RefundKit) -> None:
    await scenarios.concurrent_partial_refunds_stop_at_the_paid_amount(refund_kit, CODES)


async def test_processing_refunds_count(refund_kit: RefundKit) -> None:
    await scenarios.processing_refunds_count_toward_the_paid_amount(refund_kit, CODES)


async def test_same_number_another_amount(refund_kit: RefundKit) -> None:
    await scenarios.same_number_with_another_amount_is_refused(refund_kit, CODES)


async def test_one_year_window(refund_kit: RefundKit) -> None:
    await scenarios.refund_window(refund_kit, CODES)


async def test_at_most_50_refunds_per_order(refund_kit: RefundKit) -> None:
    out = await refund_kit.paid_order()
    for n in range(50):
        await refund_kit.adapter.refund(refund_kit.request(out, 100, f"R{n:02d}"))

    with pytest.raises(RefundRejected) as raised:
        await refund_kit.adapter.refund(refund_kit.request(out, 100, "R50"))

    assert (raised.value.code, raised.value.message) == ("ERROR", "每个支付订单的部分退款次数不能超过50次")
    ledger = await settled_ledger(refund_kit.control, out)
    assert [kind for kind, _ in ledger].count("refund") == 50


# ---- req_info ----------------------------------------------------------------------------------------


async def finished_refund_notification(refund_kit: RefundKit) -> tuple[bytes, str]:
    """The body of the simulator's notification of a finished 1,000 fen refund, and its out_trade_no."""
    out = await refund_kit.paid_order()
    await refund_kit.adapter.refund(refund_kit.request(out, 1_000, "RN"))
    await refund_kit.wait_notified("RN")
    return refund_kit.receiver.bodies[-1][0], out


def wechatpy_client(config: WechatConfig) -> WeChatPay:
    return WeChatPay(appid=config.appid, api_key=config.api_key, mch_id=config.mch_id)


async def test_wechatpy_decrypts_the_simulators_req_info(refund_kit: RefundKit, config: WechatConfig) -> None:
    body, out = await finished_refund_notification(refund_kit)

    envelope = decode_xml(body)
    plain = wechatpy_client(config).parse_refund_notify_result(body.decode())

    assert "sign" not in envelope and set(envelope) == {"return_code", "appid", "mch_id", "nonce_str", "req_info"}
    assert (plain["out_trade_no"], plain["out_refund_no"], plain["refund_fee"]) == (out, "RN", 1_000)
    assert (plain["refund_status"], plain["total_fee"]) == ("SUCCESS", 10_000)
    assert plain["refund_id"] == refund_kit.notified("RN")[0].channel_refund_no


def test_adapter_decrypts_wechatpys_req_info(adapter: WechatAdapter, config: WechatConfig) -> None:
    """wechatpy encrypts (its own AES-ECB and PKCS7 code, its own key derivation); the adapter reads it."""
    crypto = RefundCrypto(WeChatRefundCrypto(config.api_key).key)
    plaintext = encode_xml(
        {"out_trade_no": "T1", "out_refund_no": "R1", "refund_id": "50000", "refund_fee": "250"}, "root"
    )
    req_info = crypto.encrypt(plaintext.decode())
    req_info = req_info.decode() if isinstance(req_info, bytes) else req_info
    body = encode_xml({"return_code": "SUCCESS", "appid": config.appid, "mch_id": config.mch_id, "req_info": req_info})

    notification = adapter.parse_refund_notification(body, "text/xml")

    assert req_info == encrypt_req_info(decode_xml(plaintext, "root"), config.api_key)  # same bytes both ways
    assert (notification.out_refund_no, notification.refund_fen, notification.channel_refund_no) == ("R1", 250, "50000")
    assert notification.status is RefundStatus.PROCESSING  # no refund_status: nothing final to act on


def test_the_key_is_the_lowercase_hex_md5_of_the_api_key() -> None:
    # MD5("key") = 3c6e0b8a9c15224a8228b9a98ca1531d, WeChat's own notation for the derived key.
    assert req_info_key("key") == b"3c6e0b8a9c15224a8228b9a98ca1531d"


async def test_forged_refund_notifications_are_refused(
    refund_kit: RefundKit, adapter: WechatAdapter, config: WechatConfig
) -> None:
    body, _ = await finished_refund_notification(refund_kit)
    fields = decode_xml(body)
    secret = {"out_trade_no": "T1", "out_refund_no": "R1", "refund_fee": "1", "refund_status": "SUCCESS"}
    flipped = bytearray(base64.b64decode(fields["req_info"]))
    flipped[-1] ^= 0x01
    forged = {
        "other key": {**fields, "req_info": encrypt_req_info(secret, "k" * 32)},
        "tampered last block": {**fields, "req_info": base64.b64encode(bytes(flipped)).decode()},
        "not base64": {**fields, "req_info": "not base64!"},
        "no req_info": {name: value for name, value in fields.items() if name != "req_info"},
        "other merchant": {**fields, "mch_id": "10000999"},
        "return_code FAIL": {**fields, "return_code": "FAIL"},
        "no refund amount": {
            **fields,
            "req_info": encrypt_req_info({"out_trade_no": "T1", "out_refund_no": "R1"}, config.api_key),
        },
    }

    refused = []
    for name, forgery in forged.items():
        with pytest.raises(NotificationInvalid):
            adapter.parse_refund_notification(encode_xml(forgery), "text/xml")
        refused.append(name)
    assert refused == list(forged)
    with pytest.raises(NotificationInvalid):
        adapter.parse_notification(body, "text/xml")  # a refund notification is no payment notification
    assert adapter.notification_ack(True).body == b"<xml><return_code><![CDATA[SUCCESS]]></return_code>" + (
        b"<return_msg><![CDATA[OK]]></return_msg></xml>"
    )
