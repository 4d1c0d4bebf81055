"""Alipay wire details without a server: yuan strings, Beijing times, raw-text signatures, the bill format."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from adapters.alipay.signing import NOTIFY_UNSIGNED_FIELDS, Rsa2Signer, Rsa2Verifier, signing_string
from adapters.alipay.wire import (
    fen_to_yuan,
    from_wire_time,
    parse_bill,
    parse_envelope,
    raw_members,
    render_response,
    to_wire_time,
    yuan_to_fen,
)
from adapters.protocol import WireFormatError


@pytest.mark.parametrize(
    ("fen", "yuan"), [(1, "0.01"), (10, "0.10"), (1_234, "12.34"), (10_000_000_000, "100000000.00")]
)
def test_fen_to_yuan(fen: int, yuan: str) -> None:
    assert fen_to_yuan(fen) == yuan
    assert yuan_to_fen(yuan) == fen


@pytest.mark.parametrize("fen", [0, -1, 10_000_000_001])
def test_fen_outside_alipay_range(fen: int) -> None:
    with pytest.raises(ValueError):
        fen_to_yuan(fen)


@pytest.mark.parametrize(("yuan", "fen"), [("12", 1_200), ("12.3", 1_230), ("0.07", 7), ("0", 0)])
def test_yuan_short_forms(yuan: str, fen: int) -> None:
    assert yuan_to_fen(yuan) == fen


@pytest.mark.parametrize("text", ["1.234", "-1.00", "1e2", "01.00", " 1.00", "1,00", "", "0.1.1", "NaN"])
def test_not_yuan(text: str) -> None:
    with pytest.raises(ValueError):
        yuan_to_fen(text)


def test_beijing_wire_time_is_utc_plus_8() -> None:
    at = datetime(2026, 11, 21, 16, 30, 5, tzinfo=UTC)
    assert to_wire_time(at) == "2026-11-22 00:30:05"
    assert from_wire_time("2026-11-22 00:30:05") == at
    with pytest.raises(ValueError):
        from_wire_time("2026/11/22 00:30:05")


def test_signing_string_sorts_skips_empty_and_sign() -> None:
    params = {"b": "2", "a": "1", "sign": "x", "sign_type": "RSA2", "empty": "", "biz_content": '{"k":"v w"}'}
    assert signing_string(params) == 'a=1&b=2&biz_content={"k":"v w"}&sign_type=RSA2'
    assert signing_string(params, NOTIFY_UNSIGNED_FIELDS) == 'a=1&b=2&biz_content={"k":"v w"}'


def test_response_sign_covers_the_raw_text_not_a_reserialisation(stranger_key: tuple[str, str]) -> None:
    signer, verifier = Rsa2Signer(stranger_key[0]), Rsa2Verifier(stranger_key[1])
    body = {"code": "10000", "msg": "Success", "subject": 'a "quoted" {brace}', "n": "中文"}
    raw = render_response("alipay_trade_query_response", body, signer).decode()
    # Alipay's own spacing is not Python's; a re-serialised object would not verify.
    spaced = raw.replace('{"code"', '{ "code"')
    envelope = parse_envelope(spaced, "alipay.trade.query")
    assert envelope.body == body
    assert envelope.sign is not None
    assert not verifier.verify(envelope.signed_text, envelope.sign)
    envelope = parse_envelope(raw, "alipay.trade.query")
    assert verifier.verify(envelope.signed_text, envelope.sign or "")
    assert not verifier.verify(json.dumps(body), envelope.sign or "")


def test_raw_members_keeps_exact_text() -> None:
    text = ' {"a_response" : {"x":"}\\"{","y":[1, 2]} ,"sign":"abc"} '
    assert raw_members(text.strip()) == {"a_response": '{"x":"}\\"{","y":[1, 2]}', "sign": '"abc"'}
    for broken in ['{"a":1', '{"a" 1}', "[1]", '{"a":1} trailing', "{1:2}"]:
        with pytest.raises(ValueError):
            raw_members(broken)


def test_envelope_falls_back_to_error_response() -> None:
    envelope = parse_envelope('{"error_response":{"code":"40002"}}', "alipay.trade.pay")
    assert (envelope.key, envelope.sign) == ("error_response", None)


def test_not_a_bill() -> None:
    with pytest.raises(WireFormatError):
        parse_bill(b"PK\x03\x04 not really", date(2026, 11, 21))
