"""Jobs: one per order and kind (or one of a kind for the gateway), scheduled in the transaction that needs it,
leased by one worker at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from gateway.persistence.database import Tx
from gateway.persistence.prebuilt import Prebuilt
from gateway.persistence.tables import Job, table_of


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    order_id: str | None  # None: the gateway's one job of this kind
    attempts: int

    @property
    def order(self) -> str:
        """The order the job is about (for the kinds that are about one)."""
        if self.order_id is None:
            raise LookupError(f"job {self.id} ({self.kind}) is about no order")
        return self.order_id


_job = table_of(Job)
_VALUES: dict[str, Any] = {
    "kind": bindparam("kind"),
    "order_id": bindparam("order_id"),
    "due_at": bindparam("due_at"),
    "attempts": bindparam("attempts"),
    "created_at": bindparam("due_at"),
}
_UPSERT_SET: dict[str, Any] = {
    "due_at": bindparam("due_at"),
    "attempts": bindparam("attempts"),
    "lease_owner": None,
    "lease_until": None,
}
#: Built once per dialect: an upsert built per call was a good part of a payment's statement-building CPU.
_SCHEDULE = {
    name: Prebuilt(
        insert(_job)
        .values(_VALUES)
        .on_conflict_do_update(index_elements=[_job.c.kind, _job.c.order_id], set_=_UPSERT_SET)
    )
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_NO_ORDER = _job.c.order_id.is_(None)
#: The gateway's one job of a kind: moved when there (`schedule`), or left as it is (`ensure`).
_SCHEDULE_GATEWAY = {
    name: insert(_job)
    .values({**_VALUES, "order_id": None})
    .on_conflict_do_update(index_elements=[_job.c.kind], index_where=_NO_ORDER, set_=_UPSERT_SET)
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_ENSURE_GATEWAY = {
    name: insert(_job)
    .values({**_VALUES, "order_id": None})
    .on_conflict_do_nothing(index_elements=[_job.c.kind], index_where=_NO_ORDER)
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_FINISH_GATEWAY = delete(_job).where(_NO_ORDER, _job.c.kind == bindparam("kind"))


@lru_cache(maxsize=8)
def _finish(kinds: int) -> Prebuilt:
    """One statement per number of kinds ended at once (one or two)."""
    names: list[Any] = [bindparam(f"kind_{index}") for index in range(kinds)]
    return Prebuilt(delete(_job).where(_job.c.order_id == bindparam("order_id"), _job.c.kind.in_(names)))


def schedule(tx: Tx, kind: str, order_id: str | None, due_at: datetime, attempts: int = 0) -> None:
    """Create or move the order's job of this kind (one per order and kind; `None`: the gateway's), releasing any
    lease."""
    if order_id is None:
        tx.connection.execute(_SCHEDULE_GATEWAY[tx.dialect], {"kind": kind, "due_at": due_at, "attempts": attempts})
        return
    _SCHEDULE[tx.dialect].rowcount(tx, {"kind": kind, "order_id": order_id, "due_at": due_at, "attempts": attempts})


def ensure_gateway_job(tx: Tx, kind: str, due_at: datetime) -> None:
    """The gateway's one job of this kind, due at `due_at` unless it is there already (instances starting at once
    make one)."""
    tx.connection.execute(_ENSURE_GATEWAY[tx.dialect], {"kind": kind, "due_at": due_at, "attempts": 0})


def finish(tx: Tx, kind: str, order_id: str | None, *more_kinds: str) -> None:
    """Drop the order's job of this kind (and of `more_kinds`; `None`: the gateway's of `kind`): the work is done."""
    if order_id is None:
        tx.connection.execute(_FINISH_GATEWAY, {"kind": kind})
        return
    kinds = (kind, *more_kinds)
    _finish(len(kinds)).rowcount(tx, {"order_id": order_id, **{f"kind_{i}": name for i, name in enumerate(kinds)}})


_DUE = (
    select(Job.id)
    .where(Job.due_at <= bindparam("now"), or_(Job.lease_until.is_(None), Job.lease_until < bindparam("now")))
    .order_by(Job.due_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    update(Job)
    .where(Job.id.in_(_DUE.scalar_subquery()))
    .values(lease_owner=bindparam("owner"), lease_until=bindparam("until"))
    .returning(Job.id, Job.kind, Job.order_id, Job.attempts)
)


def claim_due(tx: Tx, owner: str, now: datetime, lease: timedelta, limit: int) -> list[ClaimedJob]:
    """Lease up to `limit` due jobs nobody holds (SKIP LOCKED on PostgreSQL, so instances never take the same)."""
    rows = tx.connection.execute(_CLAIM, {"now": now, "limit": limit, "owner": owner, "until": now + lease})
    return [ClaimedJob(*row) for row in rows.all()]


def renew_lease(tx: Tx, job_id: int, owner: str, until: datetime) -> None:
    tx.connection.execute(update(Job).where(Job.id == job_id, Job.lease_owner == owner).values(lease_until=until))


def release_for_retry(tx: Tx, job_id: int, owner: str, due_at: datetime, attempts: int, error: str) -> None:
    """A handler failed: the job is free again, due later, with the error kept."""
    tx.connection.execute(
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == owner)
        .values(lease_owner=None, lease_until=None, due_at=due_at, attempts=attempts, last_error=error[:256])
    )


def next_due_at(tx: Tx) -> datetime | None:
    value: datetime | None = tx.connection.scalar(select(Job.due_at).order_by(Job.due_at).limit(1))
    return value
