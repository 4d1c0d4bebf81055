"""Public identifiers: a type prefix, then a time-ordered part and a random part."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    """`ord_0192f3a1b2c3d4e5f6a7b8c9`: 48 bits of milliseconds then 48 random bits, so ids sort by creation."""
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(6)}"
