"""Alipay RSA2 signatures (SHA256withRSA, PKCS#1 v1.5, base64) and the simulator's bill-link tokens."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
from collections.abc import Collection, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGN_FIELD = "sign"
SIGN_TYPE_FIELD = "sign_type"
RSA2 = "RSA2"

#: Requests sign everything but `sign`; notifications leave `sign_type` out as well.
REQUEST_UNSIGNED_FIELDS = frozenset({SIGN_FIELD})
NOTIFY_UNSIGNED_FIELDS = frozenset({SIGN_FIELD, SIGN_TYPE_FIELD})


def signing_string(params: Mapping[str, str], unsigned: Collection[str] = REQUEST_UNSIGNED_FIELDS) -> str:
    """`k1=v1&k2=v2...` over the non-empty raw values, names in ASCII order, without URL encoding."""
    return "&".join(f"{name}={value}" for name, value in sorted(params.items()) if value and name not in unsigned)


@functools.lru_cache(maxsize=16)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    """Loading validates the key, which takes tens of milliseconds: do it once per key."""
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("an Alipay signing key must be an RSA private key")
    return key


class Rsa2Signer:
    """Signs with one RSA private key (PEM, PKCS#1 or PKCS#8)."""

    def __init__(self, private_key_pem: str) -> None:
        self._key = _private_key(private_key_pem)

    def sign(self, message: str) -> str:
        signature = self._key.sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode("ascii")

    def signed(self, params: Mapping[str, str]) -> dict[str, str]:
        """A copy of request `params` with their `sign` added."""
        return {**params, SIGN_FIELD: self.sign(signing_string(params))}


class Rsa2Verifier:
    """Verifies with one RSA public key (PEM, SubjectPublicKeyInfo)."""

    def __init__(self, public_key_pem: str) -> None:
        key = serialization.load_pem_public_key(public_key_pem.encode("ascii"))
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("an Alipay verification key must be an RSA public key")
        self._key = key

    def verify(self, message: str, signature: str) -> bool:
        try:
            raw = base64.b64decode(signature, validate=True)
            self._key.verify(raw, message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    def verify_params(self, params: Mapping[str, str], unsigned: Collection[str] = REQUEST_UNSIGNED_FIELDS) -> bool:
        """Whether form `params` carry a valid `sign` over the fields the message kind signs."""
        return self.verify(signing_string(params, unsigned), params.get(SIGN_FIELD, ""))


def link_token(secret: bytes, text: str) -> str:
    """An HMAC-SHA256 token that makes a download link unguessable (Alipay's bill links carry one too)."""
    return hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()


def link_token_valid(secret: bytes, text: str, token: str) -> bool:
    return hmac.compare_digest(link_token(secret, text).encode("ascii"), token.encode("utf-8"))
