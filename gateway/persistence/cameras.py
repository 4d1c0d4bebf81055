"""Cameras and their keys, and the terminal a camera reads codes for as the payment service sees it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, insert, select

from gateway.persistence.database import Tx
from gateway.persistence.tables import Camera, Terminal, table_of

_cameras = table_of(Camera)
_terminals = table_of(Terminal)

_INSERT = insert(_cameras)
_TERMINAL_EXISTS = select(_terminals.c.id).where(_terminals.c.id == bindparam("terminal_id"))
#: A key is found by its prefix; only an enabled camera on an enabled terminal may use it.
_BY_KEY_PREFIX = (
    select(_cameras.c.id, _cameras.c.terminal_id, _cameras.c.secret_hash)
    .join(_terminals, _terminals.c.id == _cameras.c.terminal_id)
    .where(
        _cameras.c.key_prefix == bindparam("prefix"),
        _cameras.c.disabled_at.is_(None),
        _terminals.c.disabled_at.is_(None),
    )
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


def live_camera_by_key_prefix(tx: Tx, prefix: str) -> Row[Any, Any, Any] | None:
    """The enabled camera, on an enabled terminal, whose key has this prefix: its id, terminal and secret hash."""
    return tx.connection.execute(_BY_KEY_PREFIX, {"prefix": prefix}).first()


def terminal_has_camera(tx: Tx, terminal_id: str) -> bool:
    """Whether an enabled camera reads codes for this terminal."""
    return tx.connection.execute(_LIVE_CAMERA_OF, {"terminal_id": terminal_id}).first() is not None
