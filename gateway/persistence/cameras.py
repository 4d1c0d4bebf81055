"""Cameras and their keys, and the terminal a camera reads codes for as the payment service sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Row, bindparam, case, insert, or_, select

from gateway.persistence.database import Tx
from gateway.persistence.rotating_keys import KeyColumns, set_disabled
from gateway.persistence.tables import Camera, Merchant, Terminal, table_of

_cameras = table_of(Camera)
_terminals = table_of(Terminal)
_merchants = table_of(Merchant)
#: A camera's key (`ck_<prefix>_<secret>`, found by prefix) and, during a rotation, the one it replaced.
KEYS = KeyColumns(_cameras, "key_prefix", "secret_hash", "previous_key_prefix", "previous_secret_hash", label="ck_")

_INSERT = insert(_cameras)
_TERMINAL_EXISTS = select(_terminals.c.id).where(_terminals.c.id == bindparam("terminal_id"))
_PREFIX: BindParameter[str] = bindparam("prefix")
#: A key is found by its prefix, current or previous; the service refuses it if the camera, its terminal or the
#: terminal's merchant is disabled.
_BY_KEY_PREFIX = (
    select(
        _cameras.c.id,
        _cameras.c.terminal_id,
        case((_cameras.c.key_prefix == _PREFIX, _cameras.c.secret_hash), else_=_cameras.c.previous_secret_hash).label(
            "secret_hash"
        ),
        _cameras.c.disabled_at,
        _terminals.c.disabled_at.label("terminal_disabled_at"),
        _merchants.c.disabled_at.label("merchant_disabled_at"),
    )
    .join(_terminals, _terminals.c.id == _cameras.c.terminal_id)
    .join(_merchants, _merchants.c.id == _terminals.c.merchant_id)
    .where(or_(_cameras.c.key_prefix == _PREFIX, _cameras.c.previous_key_prefix == _PREFIX))
)
_LIVE_CAMERA_OF = (
    select(_cameras.c.id)
    .where(_cameras.c.terminal_id == bindparam("terminal_id"), _cameras.c.disabled_at.is_(None))
    .limit(1)
)


def terminal_exists(tx: Tx, terminal_id: str) -> bool:
    return tx.connection.execute(_TERMINAL_EXISTS, {"terminal_id": terminal_id}).first() is not None


def add_camera(tx: Tx, camera: Camera) -> None:
    tx.connection.execute(
        _INSERT,
        {
            "id": camera.id,
            "terminal_id": camera.terminal_id,
            "name": camera.name,
            "key_prefix": camera.key_prefix,
            "secret_hash": camera.secret_hash,
            "created_at": camera.created_at,
            "disabled_at": camera.disabled_at,
        },
    )


def camera_by_key_prefix(tx: Tx, prefix: str) -> Row[*tuple[Any, ...]] | None:
    """The camera whose current or previous key has this prefix: its id, terminal, that key's secret hash, and
    when the camera, its terminal and their merchant were disabled.
    """
    return tx.connection.execute(_BY_KEY_PREFIX, {"prefix": prefix}).first()


def terminal_has_camera(tx: Tx, terminal_id: str) -> bool:
    """Whether an enabled camera reads codes for this terminal."""
    return tx.connection.execute(_LIVE_CAMERA_OF, {"terminal_id": terminal_id}).first() is not None


def list_cameras(tx: Tx, terminal_id: str | None) -> list[Row[*tuple[Any, ...]]]:
    """Every camera (of one terminal), oldest first: ids, name, times and key prefixes; no secrets."""
    c = _cameras.c
    query = select(
        c.id, c.terminal_id, c.name, c.created_at, c.disabled_at, c.key_prefix, c.previous_key_prefix
    ).order_by(c.created_at, c.id)
    if terminal_id is not None:
        query = query.where(c.terminal_id == terminal_id)
    return list(tx.connection.execute(query).all())


def set_camera_disabled(tx: Tx, camera_id: str, disabled_at: datetime | None) -> bool:
    """Disable (a time) or enable (None) the camera; False if there is none."""
    return set_disabled(tx, _cameras, camera_id, disabled_at)
