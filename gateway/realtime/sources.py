"""Where the hub hears of other instances' commits: PostgreSQL LISTEN/NOTIFY on the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gateway.domain.events import TerminalEvent
from gateway.realtime.hub import EventHub

log = logging.getLogger(__name__)

#: The channel the outbox trigger (migration 0004) notifies on.
NOTIFY_CHANNEL = "gateway_outbox_events"
#: A quiet LISTEN connection is probed this often, so a silently dead one is replaced.
PROBE_INTERVAL_S = 15.0
RECONNECT_DELAY_S = 1.0


def event_from_notification(body: str) -> TerminalEvent | str:
    """The event a notification carries, or only its terminal's id when the event was too large to include."""
    data: dict[str, Any] = json.loads(body)
    if "payload" not in data:
        return str(data["terminal_id"])
    return TerminalEvent(
        id=int(data["id"]),
        terminal_id=str(data["terminal_id"]),
        seq=int(data["seq"]),
        type=str(data["type"]),
        order_id=data.get("order_id"),
        payload=data["payload"],
        created_at=datetime.fromisoformat(data["created_at"]).astimezone(UTC),
    )


class PostgresListener:
    """One LISTEN connection per instance: every outbox row committed by any instance reaches this hub."""

    def __init__(self, dsn: str, hub: EventHub, latest_seqs: Callable[[list[str]], Awaitable[dict[str, int]]]) -> None:
        """`dsn`: a plain PostgreSQL DSN; `latest_seqs`: each given terminal's last event sequence (from the store)."""
        self._dsn = dsn
        self._hub = hub
        self._latest_seqs = latest_seqs
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        self.server_pid: int | None = None  # the backend holding our LISTEN, for operators and tests

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="outbox-listener")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_until_lost()
            except Exception:  # whatever broke the connection, this loop must outlive it
                log.warning("outbox listener lost its connection; reconnecting", exc_info=True)
            self.listening.clear()
            await asyncio.sleep(RECONNECT_DELAY_S)

    async def _listen_until_lost(self) -> None:
        connection = await asyncpg.connect(self._dsn)
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(NOTIFY_CHANNEL, self._on_notification)
            self.server_pid = connection.get_server_pid()
            self.listening.set()
            await self._catch_up()  # whatever was committed while nobody here listened
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(PROBE_INTERVAL_S):
                        await lost.wait()
                if not lost.is_set():
                    await connection.fetchval("SELECT 1", timeout=PROBE_INTERVAL_S)
        finally:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)

    async def _catch_up(self) -> None:
        """Hint the connections whose terminal has events past what they hold (LISTEN is on already: none slip by)."""
        terminal_ids = self._hub.terminal_ids()
        if not terminal_ids:
            return
        async with asyncio.timeout(PROBE_INTERVAL_S):
            latest = await self._latest_seqs(terminal_ids)
        self._hub.hint_behind(latest)

    def _on_notification(self, _connection: object, _pid: int, _channel: str, body: str) -> None:
        try:
            carried = event_from_notification(body)
        except (ValueError, KeyError, TypeError):
            log.error("unreadable outbox notification: %.200s", body)
            return
        if isinstance(carried, str):
            self._hub.hint(carried)
        else:
            self._hub.publish(carried)
