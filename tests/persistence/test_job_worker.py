"""The job worker: a due job runs, and stopping lets the job in flight finish (or cancels it after the grace)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from gateway.runtime import Runtime
from gateway.services import jobs
from gateway.services.jobs import ClaimedJob, JobWorker
from tests.support.factories import insert_order, make_merchant


async def worker_in_a_slow_job(runtime: Runtime) -> tuple[JobWorker, asyncio.Event, list[str]]:
    """A worker of our own (the runtime's is stopped) that has started a job which waits for `release`."""
    await runtime.worker.stop()
    order = await insert_order(runtime, await make_merchant(runtime))
    started, release, finished = asyncio.Event(), asyncio.Event(), []

    async def slow(job: ClaimedJob) -> None:
        started.set()
        await release.wait()
        finished.append(job.order_id)

    worker = JobWorker(runtime.sessions, poll_interval_s=0.05)
    worker.register("slow", slow)
    async with runtime.sessions.begin() as session:
        await jobs.schedule(session, "slow", order.id, datetime.now(UTC))
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
