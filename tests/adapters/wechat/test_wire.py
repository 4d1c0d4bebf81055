"""WeChat wire formats: CDATA XML both ways, hostile XML, Beijing times, yuan in the bill, err_code mapping."""

from __future__ import annotations

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
    NotUtf8Error,
    WireFormatError,
    decode_xml,
    encode_xml,
    error_for,
    fen_to_yuan,
    from_wire_time,
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
