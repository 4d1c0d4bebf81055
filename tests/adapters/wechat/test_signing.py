"""WeChat Pay APIv2 signing against WeChat's official example, and what verification refuses."""

from __future__ import annotations

import pytest

from adapters.wechat.signing import SignType, compute_sign, sign_type_of, signed, signing_string, verify

# WeChat's own signing example (pay.weixin.qq.com, "安全规范" / 签名算法).
EXAMPLE = {
    "appid": "wxd930ea5d5a258f4f",
    "mch_id": "10000100",
    "device_info": "1000",
    "body": "test",
    "nonce_str": "ibuaiVcKdpRxkhJA",
}
EXAMPLE_KEY = "192006250b4c09247ec02edce69f6a2d"


def test_official_md5_vector() -> None:
    assert compute_sign(EXAMPLE, EXAMPLE_KEY, SignType.MD5) == "9A0A8659F005D6984697E2CA0A9CF3B7"


def test_official_hmac_sha256_vector() -> None:
    assert (
        compute_sign(EXAMPLE, EXAMPLE_KEY, SignType.HMAC_SHA256)
        == "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
    )


def test_signing_string_sorts_drops_empty_and_sign_and_appends_key() -> None:
    fields = {"b": "2", "a": "1", "empty": "", "sign": "XYZ", "C": "3"}

    assert signing_string(fields, "k") == b"C=3&a=1&b=2&key=k"


@pytest.mark.parametrize("sign_type", list(SignType))
def test_verify_accepts_own_signature_and_refuses_tampering(sign_type: SignType) -> None:
    message = signed({**EXAMPLE, "total_fee": "100"}, EXAMPLE_KEY, sign_type)

    assert verify(message, EXAMPLE_KEY, sign_type)
    assert not verify({**message, "total_fee": "101"}, EXAMPLE_KEY, sign_type)
    assert not verify(message, "another-key", sign_type)
    assert not verify({**message, "sign": message["sign"].lower()}, EXAMPLE_KEY, sign_type)
    assert not verify({k: v for k, v in message.items() if k != "sign"}, EXAMPLE_KEY, sign_type)


def test_md5_signature_does_not_pass_as_hmac() -> None:
    message = signed(EXAMPLE, EXAMPLE_KEY, SignType.MD5)

    assert not verify(message, EXAMPLE_KEY, SignType.HMAC_SHA256)


def test_sign_type_field() -> None:
    assert sign_type_of({}) is SignType.MD5
    assert sign_type_of({"sign_type": "HMAC-SHA256"}) is SignType.HMAC_SHA256
    with pytest.raises(ValueError):
        sign_type_of({"sign_type": "RSA"})
