"""The job worker: stopping lets the job in flight finish (or cancels it after the grace); leases and take-over."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from gateway.persistence import jobs
from gateway.persistence.jobs import ClaimedJob
from gateway.runtime import Runtime
from gateway.services.jobs import LEASE, JobWorker
from tests.support.factories import insert_order, make_merchant
from tests.support.simcontrol import eventually


async def worker_in_a_slow_job(
    runtime: Runtime, lease: timedelta = LEASE
) -> tuple[JobWorker, asyncio.Event, list[str]]:
    """A worker of our own (the runtime's is stopped) that has started a job which waits for `release`."""
    await runtime.worker.stop()
    order = await insert_order(runtime, await make_merchant(runtime))
    started, release, finished = asyncio.Event(), asyncio.Event(), []

    async def slow(job: ClaimedJob) -> None:
        started.set()
        await release.wait()
        finished.append(job.order_id)

    worker = JobWorker(runtime.db, poll_interval_s=0.05, lease=lease)
    worker.register("slow", slow)
    await runtime.db.transaction(jobs.schedule, "slow", order.id, datetime.now(UTC))
    worker.start()
    await asyncio.wait_for(started.wait(), 10)
    return worker, release, finished


async def test_stopping_waits_for_the_job_in_flight(runtime: Runtime) -> None:
    worker, release, finished = await worker_in_a_slow_job(runtime)
    stopping = asyncio.create_task(worker.stop(grace_s=10))
    await asyncio.sleep(0.05)
    assert not stopping.done(), "stop returned while a job was still running"
    release.set()
    await stopping
    assert len(finished) == 1


async def test_a_job_that_outlasts_the_grace_is_cancelled(runtime: Runtime) -> None:
    worker, _release, finished = await worker_in_a_slow_job(runtime)
    await worker.stop(grace_s=0.05)
    assert finished == []


def rival_worker(runtime: Runtime, lease: timedelta) -> tuple[JobWorker, list[str]]:
    """A second worker (another instance) that would run the same kind of job."""
    taken: list[str] = []

    async def take(job: ClaimedJob) -> None:
        taken.append(job.order_id)

    rival = JobWorker(runtime.db, lease=lease)
    rival.register("slow", take)
    return rival, taken


async def test_a_running_job_keeps_its_lease(runtime: Runtime) -> None:
    lease = timedelta(seconds=1)
    worker, release, finished = await worker_in_a_slow_job(runtime, lease)
    rival, taken = rival_worker(runtime, lease)
    for _ in range(50):  # 2.5 leases long: only renewals keep the job from the rival
        await rival.run_due()
        await asyncio.sleep(0.05)
    release.set()
    await worker.stop()
    assert taken == [] and len(finished) == 1


async def test_the_job_of_a_worker_that_died_is_taken_over_when_its_lease_runs_out(runtime: Runtime) -> None:
    lease = timedelta(seconds=1)
    worker, _release, finished = await worker_in_a_slow_job(runtime, lease)
    await worker.stop(grace_s=0.01)  # the job is cut off: nobody renews or releases its lease
    rival, taken = rival_worker(runtime, lease)
    assert await rival.run_due() == 0, "taken over while the lease still held"
    await eventually(rival.run_due)
    assert len(taken) == 1 and finished == []
