"""Jobs in the database: scheduled in the transaction that needs them, leased by one worker, resumed after a crash."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.persistence.tables import Job

log = logging.getLogger(__name__)

#: How long a claimed job stays a worker's after its last renewal. A running job is renewed every third of it,
#: so a job of a worker that died is taken over within this time (and a long channel call keeps its job).
LEASE = timedelta(seconds=15)
#: How long stopping waits for the jobs in flight (a channel call, at most its timeout) before cancelling them.
STOP_GRACE_S = 10.0


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    order_id: str
    attempts: int


async def schedule(session: AsyncSession, kind: str, order_id: str, due_at: datetime, attempts: int = 0) -> None:
    """Create or move the order's job of this kind (one per order and kind), releasing any lease."""
    values = {"kind": kind, "order_id": order_id, "due_at": due_at, "attempts": attempts, "created_at": due_at}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Job).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[Job.kind, Job.order_id],
        set_={"due_at": due_at, "attempts": attempts, "lease_owner": None, "lease_until": None},
    )
    await session.execute(statement)


async def finish(session: AsyncSession, kind: str, order_id: str, *more_kinds: str) -> None:
    """Drop the order's job of this kind (and of `more_kinds`): the work is done."""
    await session.execute(delete(Job).where(Job.order_id == order_id, Job.kind.in_((kind, *more_kinds))))


JobHandler = Callable[[ClaimedJob], Awaitable[None]]


class JobWorker:
    """Claims due jobs (SKIP LOCKED on PostgreSQL) and runs them; woken early when work is scheduled here."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        poll_interval_s: float = 0.5,
        batch_size: int = 32,
        lease: timedelta = LEASE,
    ) -> None:
        self._sessions = sessions
        self._lease = lease
        self._handlers: dict[str, JobHandler] = {}
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._owner = f"worker-{secrets.token_hex(4)}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def register(self, kind: str, handler: JobHandler) -> None:
        self._handlers[kind] = handler

    def wake(self) -> None:
        """Something was scheduled: look for due work now instead of at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="job-worker")

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """Let the round in flight finish (cancelled after `grace_s`), then stop.

        A round cut off mid-query leaves the query running in SQLite's thread with nobody waiting for it.
        """
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, grace_s)

    async def run_due(self) -> int:
        """Claim and run every job due now; returns how many ran."""
        jobs = await self._claim()
        await asyncio.gather(*(self._run_one(job) for job in jobs))
        return len(jobs)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                ran = await self.run_due()
            except Exception:
                log.exception("job worker round failed")
                ran = 0
            if ran >= self._batch_size:
                continue  # more may be due
            self._wake.clear()  # before looking: a wake-up that comes while we look is kept
            if self._stopping:
                break
            next_due = await self._seconds_to_next_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), min(self._poll_interval_s, next_due))

    async def _claim(self) -> list[ClaimedJob]:
        now = datetime.now(UTC)
        due = (
            select(Job.id)
            .where(Job.due_at <= now, or_(Job.lease_until.is_(None), Job.lease_until < now))
            .order_by(Job.due_at)
            .limit(self._batch_size)
            .with_for_update(skip_locked=True)
        )
        async with self._sessions.begin() as session:
            rows = await session.execute(
                update(Job)
                .where(Job.id.in_(due.scalar_subquery()))
                .values(lease_owner=self._owner, lease_until=now + self._lease)
                .returning(Job.id, Job.kind, Job.order_id, Job.attempts)
            )
            return [ClaimedJob(*row) for row in rows.all()]

    async def _run_one(self, job: ClaimedJob) -> None:
        handler = self._handlers.get(job.kind)
        finished = asyncio.Event()
        renewing = asyncio.create_task(self._renew_lease(job, finished), name=f"lease-{job.id}")
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {job.kind}")
            await handler(job)
        except Exception as exc:
            await self._retry_later(job, exc)
        finally:
            finished.set()
            await renewing

    async def _renew_lease(self, job: ClaimedJob, finished: asyncio.Event) -> None:
        """Push the job's lease on until it has finished; between queries, never cancelled in the middle of one."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), self._lease.total_seconds() / 3)
                return
            try:
                async with self._sessions.begin() as session:
                    await session.execute(
                        update(Job)
                        .where(Job.id == job.id, Job.lease_owner == self._owner)
                        .values(lease_until=datetime.now(UTC) + self._lease)
                    )
            except Exception:
                log.warning("could not renew the lease of job %s; retrying", job.id, exc_info=True)

    async def _retry_later(self, job: ClaimedJob, exc: Exception) -> None:
        """A handler failed: release the job and run it again after a backoff."""
        log.error("job %s (%s for %s) failed", job.id, job.kind, job.order_id, exc_info=exc)
        async with self._sessions.begin() as session:
            await session.execute(
                update(Job)
                .where(Job.id == job.id, Job.lease_owner == self._owner)
                .values(
                    lease_owner=None,
                    lease_until=None,
                    due_at=datetime.now(UTC) + timedelta(seconds=min(2 ** min(job.attempts, 8), 300)),
                    attempts=job.attempts + 1,
                    last_error=f"{type(exc).__name__}: {exc}"[:256],
                )
            )

    async def _seconds_to_next_due(self) -> float:
        async with self._sessions() as session:
            next_due = await session.scalar(select(Job.due_at).order_by(Job.due_at).limit(1))
        if next_due is None:
            return self._poll_interval_s
        return max(0.0, (next_due - datetime.now(UTC)).total_seconds())
