"""Idempotency records: the first response to a terminal's request key, replayed to its retries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.persistence.database import Tx
from gateway.persistence.prebuilt import Prebuilt
from gateway.persistence.tables import IdempotencyRecord, table_of

_records = table_of(IdempotencyRecord)
_WHERE_KEY = (_records.c.terminal_id == bindparam("for_terminal"), _records.c.key == bindparam("for_key"))
_CLAIM = {
    name: Prebuilt(
        insert(_records)
        .values(
            terminal_id=bindparam("terminal_id"),
            key=bindparam("key"),
            request_hash=bindparam("request_hash"),
            created_at=bindparam("created_at"),
        )
        .on_conflict_do_nothing(index_elements=[_records.c.terminal_id, _records.c.key])
    )
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_FIND = Prebuilt(
    select(_records.c.request_hash, _records.c.response_status, _records.c.response_body).where(*_WHERE_KEY)
)
_ANSWER = Prebuilt(
    update(_records)
    .where(*_WHERE_KEY)
    .values(response_status=bindparam("response_status"), response_body=bindparam("response_body"))
)
_RELEASE = delete(_records).where(*_WHERE_KEY)
_FORGET = delete(_records).where(_records.c.created_at < bindparam("before"))


def claim(tx: Tx, terminal_id: str, key: str, request_hash: str, now: datetime) -> bool:
    """Take the key for this request; False when it is taken already (then `find` tells by whom)."""
    params = {"terminal_id": terminal_id, "key": key, "request_hash": request_hash, "created_at": now}
    return _CLAIM[tx.dialect].rowcount(tx, params) == 1


def find(tx: Tx, terminal_id: str, key: str) -> tuple[str, int | None, dict[str, Any] | None] | None:
    """(request hash, response status, response body) of the key's record; the response is None while in flight."""
    row = _FIND.first(tx, {"for_terminal": terminal_id, "for_key": key})
    return None if row is None else (row.request_hash, row.response_status, row.response_body)


def answer(tx: Tx, terminal_id: str, key: str, status: int, body: dict[str, Any]) -> None:
    _ANSWER.rowcount(
        tx, {"for_terminal": terminal_id, "for_key": key, "response_status": status, "response_body": body}
    )


def release(tx: Tx, terminal_id: str, key: str) -> None:
    tx.connection.execute(_RELEASE, {"for_terminal": terminal_id, "for_key": key})


def forget_before(tx: Tx, before: datetime) -> None:
    tx.connection.execute(_FORGET, {"before": before})
