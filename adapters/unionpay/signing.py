"""云闪付 signatures: SHA-256 hex of the sorted `k=v` string, signed with SHA256withRSA (PKCS#1 v1.5), base64.

Requests are signed with the service provider's private key and verified with its public key; responses and
notifications the other way round with UnionPay's pair. Keys never reach a log or an exception message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNATURE_FIELD = "signature"

#: A value as it may appear in a 云闪付 JSON message: jeepay sends amounts as JSON numbers, the rest as strings.
WireValue = str | int | None


def render(value: str | int) -> str:
    """The text a value contributes to the signing string (an integer is written in decimal, as Java does)."""
    return value if isinstance(value, str) else str(value)


def signing_string(fields: Mapping[str, WireValue]) -> str:
    """`k=v` pairs sorted by name, joined with `&`: null values and `signature` are left out, empty strings kept."""
    return "&".join(
        f"{name}={render(value)}"
        for name, value in sorted(fields.items())
        if name != SIGNATURE_FIELD and value is not None
    )


def _digest_hex(fields: Mapping[str, WireValue]) -> bytes:
    """What is actually signed: the lowercase hex SHA-256 of the signing string, as ASCII bytes."""
    return hashlib.sha256(signing_string(fields).encode("utf-8")).hexdigest().encode("ascii")


def sign(fields: Mapping[str, WireValue], private_key: rsa.RSAPrivateKey) -> str:
    """The base64 `signature` for `fields`."""
    raw = private_key.sign(_digest_hex(fields), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def verify(fields: Mapping[str, WireValue], public_key: rsa.RSAPublicKey) -> bool:
    """Whether `fields["signature"]` is a valid signature of the other fields."""
    signature = fields.get(SIGNATURE_FIELD)
    if not isinstance(signature, str) or not signature:
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, _digest_hex(fields), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM text (PKCS#8 or PKCS#1)."""
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """An RSA public key from PEM text (SubjectPublicKeyInfo)."""
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key
