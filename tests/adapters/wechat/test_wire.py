"""WeChat wire formats: CDATA XML both ways, hostile XML, Beijing times, yuan in the bill, err_code mapping."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from adapters.protocol import (
    AlreadyPaid,
    AuthCodeInvalid,
    OrderStateConflict,
    OutcomeUnknown,
    PaymentDeclined,
    RefundRejected,
    RequestRejected,
)
from adapters.wechat.wire import (
    REFUND_ERROR_TYPES,
    BillLine,
    NotUtf8Error,
    WireFormatError,
    decode_xml,
    encode_xml,
    error_for,
    fen_to_yuan,
    from_wire_time,
    parse_bill,
    render_bill,
    to_wire_time,
    yuan_to_fen,
)


def test_xml_round_trip_uses_cdata_for_text_only() -> None:
    fields = {"total_fee": "100", "body": "咖啡 <large> & milk", "odd": "a]]>b"}

    body = encode_xml(fields)

    assert body.startswith(b"<xml><total_fee>100</total_fee><body><![CDATA[")
    assert decode_xml(body) == fields


def test_decode_keeps_unknown_fields_and_reads_plain_text() -> None:
    body = b"<xml><return_code>SUCCESS</return_code><brand_new_field><![CDATA[x]]></brand_new_field></xml>"

    assert decode_xml(body) == {"return_code": "SUCCESS", "brand_new_field": "x"}


@pytest.mark.parametrize(
    "body",
    [
        b"not xml",
        b"<xml><a>1</a>",
        b"<root><a>1</a></root>",
        b"<xml><a>1</a><a>2</a></xml>",
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e "boom">]><xml><a>&e;</a></xml>',
        b'<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><a>&x;</a></xml>',
    ],
)
def test_decode_refuses_malformed_and_hostile_xml(body: bytes) -> None:
    with pytest.raises(WireFormatError):
        decode_xml(body)


def test_decode_refuses_non_utf8() -> None:
    with pytest.raises(NotUtf8Error):
        decode_xml("<xml><body>咖啡</body></xml>".encode("gbk"))


def test_wire_times_are_beijing_and_come_back_as_utc() -> None:
    moment = datetime(2026, 11, 20, 17, 30, 5, tzinfo=UTC)

    assert to_wire_time(moment) == "20261121013005"
    assert from_wire_time("20261121013005") == moment
    for bad in ("2026-11-21", "00010101000000"):
        with pytest.raises(WireFormatError):
            from_wire_time(bad)


def test_yuan_conversion_is_exact() -> None:
    assert [fen_to_yuan(fen) for fen in (0, 1, 10, 123_456)] == ["0.00", "0.01", "0.10", "1234.56"]
    assert yuan_to_fen("1234.56") == 123_456
    for bad in ("1.005", "abc", "Infinity"):
        with pytest.raises(WireFormatError):
            yuan_to_fen(bad)


def test_bill_round_trip() -> None:
    at = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    payment = BillLine(
        at=at,
        appid="wx1",
        mch_id="1",
        transaction_id="4200000001202611210000000001",
        out_trade_no="A1",
        openid="o1",
        trade_type="MICROPAY",
        trade_state="SUCCESS",
        paid_fen=1_234,
        body="coffee",
    )
    refund = dataclasses.replace(
        payment, trade_state="REFUND", paid_fen=0, refund_fen=234, refund_id="50", out_refund_no="R1"
    )
    text = render_bill([payment, refund])

    lines = text.splitlines()
    assert lines[0].startswith("交易时间,公众账号ID,商户号")
    assert lines[1].startswith("`2026-11-21 10:00:00,`wx1,`1,")
    assert lines[3].startswith("总交易单数,应结订单总金额,退款总金额")
    assert lines[4].startswith("`2,`12.34,`2.34,")
    entries = parse_bill(text)
    assert [(e.kind, e.amount_fen, e.out_refund_no, e.at) for e in entries] == [
        ("payment", 1_234, None, at),
        ("refund", 234, "R1", at),
    ]


def test_bill_with_wrong_header_is_refused() -> None:
    with pytest.raises(WireFormatError):
        parse_bill("a,b,c\r\n`1,`2,`3\r\n")


@pytest.mark.parametrize(
    ("err_code", "error_type"),
    [
        ("SYSTEMERROR", OutcomeUnknown),
        ("BANKERROR", OutcomeUnknown),
        ("SOMETHING_NEW", OutcomeUnknown),
        ("AUTHCODEEXPIRE", AuthCodeInvalid),
        ("AUTH_CODE_INVALID", AuthCodeInvalid),
        ("NOTENOUGH", PaymentDeclined),
        ("ORDERPAID", AlreadyPaid),
        ("ORDERCLOSED", OrderStateConflict),
        ("OUT_TRADE_NO_USED", OrderStateConflict),
        ("SIGNERROR", RequestRejected),
        ("TRADE_OVERDUE", RefundRejected),
    ],
)
def test_err_codes_map_to_typed_errors(err_code: str, error_type: type[Exception]) -> None:
    error = error_for(err_code, "description")

    assert type(error) is error_type
    assert error.code == err_code


def test_notenough_on_a_refund_is_the_merchant_balance() -> None:
    assert type(error_for("NOTENOUGH", "", REFUND_ERROR_TYPES)) is RefundRejected
