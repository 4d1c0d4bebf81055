"""The garbage-collector policy: survivors of a full collection are frozen, and everything is thawed in time."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

import pytest

import gateway.gc_policy
from gateway.gc_policy import SurvivorFreezer
from tests.support.simcontrol import eventually


@contextlib.asynccontextmanager
async def running(freezer: SurvivorFreezer) -> AsyncIterator[None]:
    task = asyncio.create_task(freezer.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        gc.unfreeze()  # leave this process's collector as it was


@pytest.fixture(autouse=True)
def quick_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway.gc_policy, "CHECK_INTERVAL_S", 0.01)


async def test_what_survives_a_full_collection_is_frozen_out_of_later_ones() -> None:
    async with running(SurvivorFreezer(thaw_interval_s=3600)):
        await eventually(lambda: gc.get_freeze_count() > 0)  # start-up's objects
        survivors = [[index] for index in range(5000)]
        before = gc.get_freeze_count()
        gc.collect()
        await eventually(lambda: gc.get_freeze_count() >= before + len(survivors))


async def test_everything_is_thawed_once_the_interval_has_passed() -> None:
    async with running(SurvivorFreezer(thaw_interval_s=0.05)):
        await eventually(lambda: gc.get_freeze_count() > 0)
        await eventually(lambda: gc.get_freeze_count() == 0)
