"""The terminal request signature: HMAC-SHA256 over method, path, timestamp, nonce and the body's SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import re

#: A request is accepted only within this many seconds of its timestamp, either way.
SIGNATURE_WINDOW_S = 300

NONCE_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")


def canonical_request(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The signed text: five lines, the last the lowercase hex SHA-256 of the exact body bytes."""
    return "\n".join((method.upper(), path, timestamp, nonce, hashlib.sha256(body).hexdigest()))


def sign_request(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of the canonical request, keyed with the terminal secret."""
    message = canonical_request(method, path, timestamp, nonce, body).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_matches(
    secret: str, signature: str, method: str, path: str, timestamp: str, nonce: str, body: bytes
) -> bool:
    return hmac.compare_digest(sign_request(secret, method, path, timestamp, nonce, body), signature.lower())
