"""The in-process hub: who is listening for which terminal, each with a bounded backlog of events to send."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from gateway.domain.events import TerminalEvent

#: Why a subscription ended (Subscription.end_reason).
OVERFLOWED = "overflowed"  # its backlog filled up: the connection fell too far behind
SILENT = "silent"  # two heartbeats went unanswered


class Subscription:
    """One connection's interest in one terminal: events not yet sent (at most `limit`), and its heartbeat.

    When the backlog is full the subscription ends (OVERFLOWED) rather than blocking the publisher: a slow terminal
    never slows the others, and its connection is closed so it resumes from its last ack. Heartbeats come from the
    hub's one ticker (`EventHub.beat`), not from a timer per connection: with 10,000 connections, per-connection
    timers were thousands of short-lived objects a second that lived just long enough to burden the collector.
    """

    def __init__(self, terminal_id: str, limit: int, heartbeat_s: float) -> None:
        now = time.monotonic()
        self.terminal_id = terminal_id
        self._limit = limit
        self._backlog: deque[TerminalEvent] = deque()
        self._ready = asyncio.Event()
        self._catch_up = False
        self.position = 0  # the last sequence this connection sent or holds to send
        self.ended = asyncio.Event()
        self.end_reason = ""
        self._heartbeat_s = heartbeat_s
        self._last_heard = now
        self._next_ping_at = now + heartbeat_s
        self._ping_due = False

    def offer(self, event: TerminalEvent) -> None:
        if self.ended.is_set():
            return
        if len(self._backlog) >= self._limit:
            self._backlog.clear()
            self._end(OVERFLOWED)
        else:
            self._backlog.append(event)
            self.position = max(self.position, event.seq)
        self._ready.set()

    def sent(self, seq: int) -> None:
        """The connection sent up to `seq` (replayed from the outbox, which did not come through `offer`)."""
        self.position = max(self.position, seq)

    def heard(self) -> None:
        """The terminal said something: it is alive."""
        self._last_heard = time.monotonic()

    def beat(self, now: float) -> None:
        """A heartbeat is due: ask the sender for a ping, or end the subscription if two pings went unanswered."""
        if now < self._next_ping_at:
            return
        if now - self._last_heard > 2 * self._heartbeat_s:
            self._end(SILENT)
            return
        self._next_ping_at = now + self._heartbeat_s
        self._ping_due = True
        self._ready.set()

    def ping_due(self) -> bool:
        """Whether to send a ping now (true once per heartbeat)."""
        due, self._ping_due = self._ping_due, False
        return due

    def _end(self, reason: str) -> None:
        if not self.ended.is_set():
            self.end_reason = reason
            self.ended.set()

    def hint(self) -> None:
        """Events were committed whose content did not reach us: read them from the outbox."""
        self._catch_up = True
        self._ready.set()

    async def wait(self) -> None:
        await self._ready.wait()

    def take(self) -> tuple[list[TerminalEvent], bool]:
        """The backlog, and whether the outbox must be read as well."""
        self._ready.clear()
        events, catch_up = list(self._backlog), self._catch_up
        self._backlog.clear()
        self._catch_up = False
        return events, catch_up


class EventHub:
    """Routes published events to the subscriptions of their terminal, in this process only, and keeps time for
    their heartbeats."""

    def __init__(self, queue_limit: int, heartbeat_s: float) -> None:
        self._queue_limit = queue_limit
        self.heartbeat_s = heartbeat_s
        self._subscriptions: dict[str, set[Subscription]] = {}

    def subscribe(self, terminal_id: str) -> Subscription:
        subscription = Subscription(terminal_id, self._queue_limit, self.heartbeat_s)
        self._subscriptions.setdefault(terminal_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscriptions.get(subscription.terminal_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscriptions[subscription.terminal_id]

    def publish(self, event: TerminalEvent) -> None:
        for subscription in self._subscriptions.get(event.terminal_id, ()):
            subscription.offer(event)

    def hint(self, terminal_id: str) -> None:
        for subscription in self._subscriptions.get(terminal_id, ()):
            subscription.hint()

    def terminal_ids(self) -> list[str]:
        """The terminals someone here listens to."""
        return list(self._subscriptions)

    def hint_behind(self, latest: dict[str, int]) -> None:
        """After a gap in notifications: subscriptions short of their terminal's `latest` sequence re-read the outbox.

        One query for every subscribed terminal's latest sequence replaces one outbox read per connection.
        """
        for terminal_id, seq in latest.items():
            for subscription in self._subscriptions.get(terminal_id, ()):
                if subscription.position < seq:
                    subscription.hint()

    def beat(self) -> None:
        """Called a few times a heartbeat by one ticker: each subscription pings, or ends, when its time comes."""
        now = time.monotonic()
        for subscribers in self._subscriptions.values():
            for subscription in subscribers:
                subscription.beat(now)

    @property
    def subscription_count(self) -> int:
        return sum(len(subscribers) for subscribers in self._subscriptions.values())
