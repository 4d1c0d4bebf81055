"""The hub in isolation: routing by terminal, bounded backlogs, and reading outbox notifications."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

import gateway.realtime.hub
from gateway.domain.events import TerminalEvent
from gateway.realtime.hub import OVERFLOWED, SILENT, EventHub
from gateway.realtime.sources import event_from_notification


def _event(terminal_id: str, seq: int) -> TerminalEvent:
    return TerminalEvent(seq, terminal_id, seq, "order.paid", f"ord_{seq}", {"n": seq}, datetime.now(UTC))


def test_a_full_backlog_overflows_only_its_own_subscription() -> None:
    hub = EventHub(queue_limit=3, heartbeat_s=20)
    slow, fast, other = hub.subscribe("trm_a"), hub.subscribe("trm_a"), hub.subscribe("trm_b")
    for seq in range(1, 6):
        hub.publish(_event("trm_a", seq))
        taken, _ = fast.take()  # the fast one keeps up
        assert [event.seq for event in taken] == [seq]
    assert slow.end_reason == OVERFLOWED and slow.ended.is_set() and not fast.ended.is_set()
    assert slow.take() == ([], False)  # it resumes from the outbox instead
    assert other.take() == ([], False)  # another terminal's subscriber saw nothing
    hub.unsubscribe(slow)
    hub.unsubscribe(fast)
    hub.unsubscribe(other)
    assert hub.subscription_count == 0


def test_hints_ask_subscribers_of_that_terminal_to_read_the_outbox() -> None:
    hub = EventHub(queue_limit=3, heartbeat_s=20)
    mine, theirs = hub.subscribe("trm_a"), hub.subscribe("trm_b")
    hub.hint("trm_a")
    assert mine.take() == ([], True)
    assert theirs.take() == ([], False)


def test_after_a_notification_gap_only_connections_short_of_the_latest_sequence_re_read() -> None:
    hub = EventHub(queue_limit=3, heartbeat_s=20)
    behind, level, ahead_by_replay, idle = (
        hub.subscribe("trm_a"),
        hub.subscribe("trm_b"),
        hub.subscribe("trm_c"),
        hub.subscribe("trm_d"),
    )
    hub.publish(_event("trm_a", 1))
    hub.publish(_event("trm_b", 1))
    hub.publish(_event("trm_b", 2))
    ahead_by_replay.sent(4)
    assert sorted(hub.terminal_ids()) == ["trm_a", "trm_b", "trm_c", "trm_d"]
    hub.hint_behind({"trm_a": 2, "trm_b": 2, "trm_c": 4, "trm_d": 0})
    assert behind.take()[1] is True
    events, catch_up = level.take()
    assert [event.seq for event in events] == [1, 2] and catch_up is False
    assert ahead_by_replay.take() == ([], False)
    assert idle.take() == ([], False)


def test_heartbeats_ask_for_a_ping_each_period_and_end_a_subscription_after_two_unanswered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(gateway.realtime.hub.time, "monotonic", lambda: clock[0])
    hub = EventHub(queue_limit=3, heartbeat_s=20)
    answering, silent = hub.subscribe("trm_a"), hub.subscribe("trm_b")

    def beat_at(seconds: float) -> None:
        clock[0] = 1000.0 + seconds
        hub.beat()

    beat_at(10)  # not due yet
    assert not answering.ping_due() and not silent.ping_due()
    beat_at(20.5)
    for subscription in (answering, silent):
        assert subscription.ping_due() and not subscription.ping_due()  # once per heartbeat
    answering.heard()
    beat_at(40.5)  # silent for over two heartbeats
    assert silent.ended.is_set() and silent.end_reason == SILENT and not silent.ping_due()
    assert answering.ping_due() and not answering.ended.is_set()
    answering.heard()
    beat_at(60.5)
    assert answering.ping_due() and not answering.ended.is_set()


def test_notifications_carry_the_event_or_only_its_terminal() -> None:
    body = {
        "id": 7,
        "terminal_id": "trm_a",
        "seq": 3,
        "type": "order.paid",
        "order_id": "ord_x",
        "payload": {"status": "PAID"},
        "created_at": "2026-11-21T14:30:00.5+08:00",
    }
    event = event_from_notification(json.dumps(body))
    assert isinstance(event, TerminalEvent)
    assert (event.id, event.seq, event.payload, event.created_at) == (
        7,
        3,
        {"status": "PAID"},
        datetime(2026, 11, 21, 6, 30, 0, 500000, tzinfo=UTC),
    )
    assert json.loads(event.encoded)["id"] == "evt_7"
    assert event_from_notification('{"terminal_id": "trm_a", "seq": 4}') == "trm_a"
