"""Signed notifications to a merchant's notify_url, retried on the channel's own ladder until acknowledged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OutgoingNotification:
    """One notification to deliver: the body is built per attempt so each attempt can be signed afresh."""

    url: str
    build: Callable[[], tuple[bytes, str]]  # -> (body, content type)
    is_ack: Callable[[int, bytes], bool]  # the channel's exact acknowledgement test
    reference: str  # out_trade_no, for the attempt log


@dataclass
class DeliveryAttempt:
    """One try at delivering a notification, kept for tests and the simulator's control API."""

    reference: str
    url: str
    at: datetime
    status_code: int | None
    acknowledged: bool


@dataclass
class Notifier:
    """Delivers notifications in the background; waits follow `ladder` (seconds) times `time_scale`."""

    ladder: Sequence[float]
    time_scale: float = 1.0
    timeout_s: float = 5.0
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def send(self, notification: OutgoingNotification, copies: int = 1, first_delay_s: float = 0.0) -> None:
        """Start delivering `copies` independent copies (more than one simulates duplicates)."""
        for _ in range(copies):
            task = asyncio.get_running_loop().create_task(self._deliver(notification, first_delay_s))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @property
    def in_flight(self) -> int:
        """Deliveries still under way (waiting, sending, or retrying)."""
        return len(self._tasks)

    async def _deliver(self, notification: OutgoingNotification, first_delay_s: float) -> None:
        waits = [first_delay_s, *self.ladder]
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            for wait in waits:
                await asyncio.sleep(wait * self.time_scale)
                if await self._attempt(client, notification):
                    return
        log.info("notification to %s for %s given up", notification.url, notification.reference)

    async def _attempt(self, client: httpx.AsyncClient, notification: OutgoingNotification) -> bool:
        body, content_type = notification.build()
        status: int | None = None
        acknowledged = False
        try:
            response = await client.post(notification.url, content=body, headers={"Content-Type": content_type})
            status = response.status_code
            acknowledged = notification.is_ack(status, response.content)
        except httpx.HTTPError as exc:
            log.info("notification to %s failed: %s", notification.url, exc)
        self.attempts.append(
            DeliveryAttempt(notification.reference, notification.url, datetime.now(UTC), status, acknowledged)
        )
        return acknowledged

    async def aclose(self) -> None:
        """Stop every delivery still under way."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
