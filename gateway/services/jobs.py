"""Jobs in the database: scheduled in the transaction that needs them, leased by one worker, resumed after a crash."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from gateway.persistence import jobs as repo
from gateway.persistence.database import Database
from gateway.persistence.jobs import ClaimedJob

log = logging.getLogger(__name__)

#: How long a claimed job stays a worker's after its last renewal. A running job is renewed every third of it,
#: so a job of a worker that died is taken over within this time (and a long channel call keeps its job).
LEASE = timedelta(seconds=15)
#: How long stopping waits for the jobs in flight (a channel call, at most its timeout) before cancelling them.
STOP_GRACE_S = 10.0


JobHandler = Callable[[ClaimedJob], Awaitable[None]]


class JobWorker:
    """Claims due jobs (SKIP LOCKED on PostgreSQL) and runs them; woken early when work is scheduled here."""

    def __init__(
        self,
        db: Database,
        poll_interval_s: float = 0.5,
        batch_size: int = 32,
        lease: timedelta = LEASE,
    ) -> None:
        self._db = db
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
        return await self._db.transaction(repo.claim_due, self._owner, datetime.now(UTC), self._lease, self._batch_size)

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
                await self._db.transaction(repo.renew_lease, job.id, self._owner, datetime.now(UTC) + self._lease)
            except Exception:
                log.warning("could not renew the lease of job %s; retrying", job.id, exc_info=True)

    async def _retry_later(self, job: ClaimedJob, exc: Exception) -> None:
        """A handler failed: release the job and run it again after a backoff."""
        log.error("job %s (%s for %s) failed", job.id, job.kind, job.order_id, exc_info=exc)
        await self._db.transaction(
            repo.release_for_retry,
            job.id,
            self._owner,
            datetime.now(UTC) + timedelta(seconds=min(2 ** min(job.attempts, 8), 300)),
            job.attempts + 1,
            f"{type(exc).__name__}: {exc}",
        )

    async def _seconds_to_next_due(self) -> float:
        next_due = await self._db.transaction(repo.next_due_at)
        if next_due is None:
            return self._poll_interval_s
        return max(0.0, (next_due - datetime.now(UTC)).total_seconds())
