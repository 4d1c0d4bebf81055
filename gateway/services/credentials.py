"""Credentials: merchant API keys (hashed), terminal keys (encrypted at rest), operator passwords (scrypt)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from gateway.domain.errors import Conflict, NotFound
from gateway.persistence.database import Tx
from gateway.persistence.rotating_keys import KeyColumns

API_KEY_PREFIX = "mk"
TERMINAL_KEY_PREFIX = "tk"
CAMERA_KEY_PREFIX = "ck"


@dataclass(frozen=True)
class IssuedKey:
    """A freshly made key: `token` is shown once; only `prefix` and `secret_hash` are stored."""

    prefix: str
    token: str
    secret_hash: str


def issue_api_key(kind: str = API_KEY_PREFIX) -> IssuedKey:
    """A key `<kind>_<prefix>_<secret>` (merchant `mk`, camera `ck`); the secret has 256 bits, so a plain
    SHA-256 is enough.
    """
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return IssuedKey(prefix, f"{kind}_{prefix}_{secret}", hash_secret(secret))


def split_api_key(token: str, kind: str = API_KEY_PREFIX) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key of this kind, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != kind or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def key_id(kind: str, prefix: str) -> str:
    """The public name of a `<kind>_<prefix>_<secret>` key, as listed and revoked: `<kind>_<prefix>`."""
    return f"{kind}_{prefix}"


@dataclass(frozen=True)
class RotatedKey:
    """A key a rotation issued: `secret` (what the owner is configured with) is shown once; `previous_key_id`
    keeps working until it is revoked.
    """

    owner_id: str
    key_id: str
    secret: str
    previous_key_id: str


def check_rotation(owner: str, live_key_ids: Sequence[str]) -> None:
    """A rotation starts from one live key: at most two work at once, the old one and the new one."""
    if len(live_key_ids) > 1:
        raise Conflict(
            f"{owner} is in a key rotation already ({', '.join(live_key_ids)}): revoke one of these keys first",
            code="key_rotation_in_progress",
        )


def check_revocation(owner: str, live_key_ids: Sequence[str], revoked_key_id: str) -> None:
    """A live key of the owner may be revoked while another one works."""
    if revoked_key_id not in live_key_ids:
        raise NotFound(
            f"{owner} has no live key {revoked_key_id} (its keys: {', '.join(live_key_ids)})", code="key_not_found"
        )
    if len(live_key_ids) == 1:
        raise Conflict(
            f"{revoked_key_id} is the only key of {owner}: rotate it first, or disable {owner}", code="last_key"
        )


def rotate_row_key(tx: Tx, keys: KeyColumns, kind: str, owner_id: str, key: str, secret: str) -> str:
    """Make `key` and `secret` (as stored) the current key of a terminal or camera; the previous key's id."""
    live = _live_row_keys(tx, keys, kind, owner_id)
    check_rotation(f"{kind} {owner_id}", live)
    rotated = keys.rotate(tx, owner_id, key, secret)
    assert rotated, "the row is locked and had one key"
    return live[0]


def revoke_row_key(tx: Tx, keys: KeyColumns, kind: str, owner_id: str, revoked_key_id: str) -> None:
    """Revoke one of the two keys of a terminal or camera; the other one stays."""
    check_revocation(f"{kind} {owner_id}", _live_row_keys(tx, keys, kind, owner_id), revoked_key_id)
    revoked = keys.revoke(tx, owner_id, revoked_key_id)
    assert revoked, "the row is locked and has this key and another"


def _live_row_keys(tx: Tx, keys: KeyColumns, kind: str, owner_id: str) -> list[str]:
    live = keys.live_keys(tx, owner_id)
    if live is None:
        raise NotFound(f"no {kind} {owner_id}", code=f"{kind}_not_found")
    return live


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


def new_terminal_key() -> tuple[str, str]:
    """(key id, secret) for a terminal's HMAC signing."""
    return f"{TERMINAL_KEY_PREFIX}_{secrets.token_hex(8)}", secrets.token_urlsafe(32)


class SecretBox:
    """Encrypts secrets the gateway must read back (terminal HMAC keys) with a key derived from settings."""

    def __init__(self, master_key: str) -> None:
        derived = hashlib.sha256(b"qrpay-secret-box:" + master_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self._fingerprint_key = hashlib.sha256(b"qrpay-fingerprint:" + master_key.encode()).digest()

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def fingerprint(self, value: str) -> str:
        """A keyed hash to recognise a credential again (a payment code) without storing it."""
        return hmac.new(self._fingerprint_key, value.encode(), hashlib.sha256).hexdigest()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("secret cannot be decrypted with this gateway's secret key") from exc


_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """A salted scrypt hash, self-describing so parameters can change later."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(candidate.hex(), digest)


def write_private_file(path: Path, text: str) -> None:
    """Write a file only its owner can read, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(text)
