"""The 云闪付 signing rules: which fields are signed, in what order, and what verification refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.simcore.keys import load_or_create_rsa_key
from adapters.unionpay.signing import WireValue, sign, signing_string, verify


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> rsa.RSAPrivateKey:
    return load_or_create_rsa_key(Path(tmp_path_factory.mktemp("keys")) / "k.pem")


def test_sorted_by_name_nulls_and_signature_left_out_empty_strings_kept() -> None:
    fields: dict[str, WireValue] = {
        "txnAmt": 100,
        "orderNo": "A1",
        "frontUrl": "",
        "customerIp": None,
        "signature": "xyz",
        "merId": "777",
    }

    assert signing_string(fields) == "frontUrl=&merId=777&orderNo=A1&txnAmt=100"


def test_integer_and_digit_string_sign_alike(key: rsa.RSAPrivateKey) -> None:
    as_number: dict[str, WireValue] = {"txnAmt": 100, "orderNo": "A1"}
    as_text: dict[str, WireValue] = {"txnAmt": "100", "orderNo": "A1"}

    assert verify({**as_text, "signature": sign(as_number, key)}, key.public_key())


def test_round_trip_and_tampering(key: rsa.RSAPrivateKey) -> None:
    fields: dict[str, WireValue] = {"orderNo": "A1", "txnAmt": "100", "orderInfo": "咖啡"}
    signed = {**fields, "signature": sign(fields, key)}

    assert verify(signed, key.public_key())
    assert not verify({**signed, "txnAmt": "101"}, key.public_key())
    assert not verify({**signed, "extra": ""}, key.public_key())  # an empty field is part of what is signed
    assert verify({**signed, "extra": None}, key.public_key())  # a null one is not


def test_malformed_or_missing_signatures_do_not_verify(key: rsa.RSAPrivateKey) -> None:
    fields: dict[str, WireValue] = {"orderNo": "A1"}

    assert not verify(fields, key.public_key())
    assert not verify({**fields, "signature": "not base64!"}, key.public_key())
    assert not verify({**fields, "signature": ""}, key.public_key())
    assert not verify({**fields, "signature": 12}, key.public_key())


def test_another_key_does_not_verify(key: rsa.RSAPrivateKey, tmp_path: Path) -> None:
    other = load_or_create_rsa_key(tmp_path / "other.pem")
    fields: dict[str, WireValue] = {"orderNo": "A1"}

    assert not verify({**fields, "signature": sign(fields, other)}, key.public_key())
