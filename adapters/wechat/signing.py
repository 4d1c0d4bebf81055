"""WeChat Pay APIv2 signatures: MD5 (the default) or HMAC-SHA256 over the sorted fields plus the API key."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from enum import StrEnum

SIGN_FIELD = "sign"
SIGN_TYPE_FIELD = "sign_type"


class SignType(StrEnum):
    """The values of the `sign_type` field."""

    MD5 = "MD5"
    HMAC_SHA256 = "HMAC-SHA256"


def sign_type_of(fields: Mapping[str, str], default: SignType = SignType.MD5) -> SignType:
    """The sign type a message declares; raises ValueError for a value WeChat does not know."""
    declared = fields.get(SIGN_TYPE_FIELD)
    return SignType(declared) if declared else default


def signing_string(fields: Mapping[str, str], api_key: str) -> bytes:
    """`k1=v1&k2=v2...&key=<api key>` over every non-empty field except `sign`, names in ASCII order."""
    pairs = [f"{name}={value}" for name, value in sorted(fields.items()) if value and name != SIGN_FIELD]
    pairs.append(f"key={api_key}")
    return "&".join(pairs).encode("utf-8")


def compute_sign(fields: Mapping[str, str], api_key: str, sign_type: SignType) -> str:
    """The uppercase hex signature of `fields`."""
    material = signing_string(fields, api_key)
    if sign_type is SignType.HMAC_SHA256:
        return hmac.new(api_key.encode("utf-8"), material, hashlib.sha256).hexdigest().upper()
    return hashlib.md5(material, usedforsecurity=False).hexdigest().upper()


def signed(fields: Mapping[str, str], api_key: str, sign_type: SignType) -> dict[str, str]:
    """A copy of `fields` with its `sign` added."""
    return {**fields, SIGN_FIELD: compute_sign(fields, api_key, sign_type)}


def verify(fields: Mapping[str, str], api_key: str, sign_type: SignType) -> bool:
    """Whether `fields` carry the right `sign` (constant-time comparison)."""
    claimed = fields.get(SIGN_FIELD, "")
    expected = compute_sign(fields, api_key, sign_type)
    return hmac.compare_digest(claimed.encode("utf-8"), expected.encode("utf-8"))
