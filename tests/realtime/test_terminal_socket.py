"""The terminal event websocket over a real server: replay, resume, acks, isolation, limits and close codes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from sqlalchemy import text
from websockets.exceptions import ConnectionClosed

from adapters.simcore.faults import Fault
from gateway.client import TerminalClient
from gateway.config import Settings
from gateway.services.transitions import write_event
from tests.support.events import demo_merchant, emit_new, event_socket, raw_socket, ticket_path
from tests.support.factories import MerchantFixture, insert_order
from tests.support.live import LiveGateway, live_gateway


def seqs(messages: list[dict[str, Any]]) -> list[int]:
    return [message["seq"] for message in messages]


async def second_terminal(live: LiveGateway) -> tuple[MerchantFixture, TerminalClient]:
    merchant = demo_merchant(live)
    created = await live.runtime.merchants.create_terminal(merchant.merchant_id, merchant.store_id, "Till 2")
    other = MerchantFixture(merchant.merchant_id, merchant.api_key, merchant.store_id, created.terminal_id)
    return other, TerminalClient(live.url, created.key_id, created.secret, live.http)


async def test_resume_after_a_dropped_connection_loses_nothing_and_duplicates_nothing(live: LiveGateway) -> None:
    seen: dict[int, dict[str, Any]] = {}  # the terminal de-duplicates by sequence
    async with event_socket(live.url, live.terminal, after=0) as socket:
        paid = await live.terminal.micropay(1250, "R1", await live.payment_code("wechat"))
        assert paid.status_code == 200, paid.text
        first = await socket.receive()
        assert (first["seq"], first["event"], first["order_id"]) == (1, "order.paid", paid.json()["order_id"])
        assert first["data"]["status"] == "PAID" and first["data"]["amount_fen"] == 1250
        await emit_new(live, 2)
        received = [first, *await socket.events(2)]
        assert seqs(received) == [1, 2, 3]
        seen.update((m["seq"], m) for m in received)
        await socket.send({"type": "ack", "seq": 2})
        socket.connection.transport.abort()  # the network drops: no close handshake

    written_meanwhile = await emit_new(live, 2)
    slow = await live.terminal.micropay(990, "R2", await live.payment_code("alipay", Fault.PASSWORD_THEN_SUCCESS))
    assert slow.status_code in (200, 202), slow.text

    async with event_socket(live.url, live.terminal, after=max(seen)) as socket:
        resumed = await socket.events(3)
    assert seqs(resumed) == [4, 5, 6]
    assert [m["order_id"] for m in resumed[:2]] == [o.id for o in written_meanwhile]
    assert (resumed[2]["order_id"], resumed[2]["data"]["status"]) == (slow.json()["order_id"], "PAID")
    seen.update((m["seq"], m) for m in resumed)

    # A terminal that lost its state resumes from further back: it gets the same events again, identical.
    async with event_socket(live.url, live.terminal, after=1) as socket:
        again = await socket.events(5)
    assert seqs(again) == [2, 3, 4, 5, 6]
    assert all(seen[m["seq"]] == m for m in again)
    assert sorted(seen) == [1, 2, 3, 4, 5, 6]


async def test_a_resume_without_a_sequence_starts_after_the_last_ack(live: LiveGateway) -> None:
    async with event_socket(live.url, live.terminal, after=0) as socket:
        assert socket.hello["acked"] == 0
        await emit_new(live, 3)
        assert seqs(await socket.events(3)) == [1, 2, 3]
        await socket.send({"type": "ack", "seq": 3})
        await socket.send({"type": "ping"})
        assert await socket.receive() == {"type": "pong"}  # the ack before it was read
    await emit_new(live, 1)
    for _ in range(100):  # the gateway saves the ack as the socket closes
        async with event_socket(live.url, live.terminal) as socket:
            if socket.hello["acked"] == 3:
                assert seqs(await socket.events(1)) == [4]
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the ack was never saved")


async def test_a_terminal_receives_only_its_own_events(live: LiveGateway) -> None:
    other, other_client = await second_terminal(live)
    async with (
        event_socket(live.url, live.terminal, after=0) as mine,
        event_socket(live.url, other_client, after=0) as theirs,
    ):
        my_orders = await emit_new(live, 2)
        their_orders = await emit_new(live, 1, other)
        await emit_new(live, 1)
        assert [m["order_id"] for m in await mine.events(3)][:2] == [o.id for o in my_orders]
        their_events = await theirs.events(1)
        assert (their_events[0]["seq"], their_events[0]["order_id"]) == (1, their_orders[0].id)
        await theirs.send({"type": "ping"})
        assert await theirs.receive() == {"type": "pong"}  # nothing else was queued for it


async def _closed_with(url: str, path: str) -> tuple[int | None, str | None]:
    async with raw_socket(url, path) as connection:
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(connection.recv(), 5)
        return connection.close_code, connection.close_reason


async def test_bad_reused_and_foreign_tickets_are_closed_with_1008(live: LiveGateway) -> None:
    terminal_id = live.credentials["terminal_id"]
    _, other_client = await second_terminal(live)
    async with event_socket(live.url, live.terminal, after=0) as healthy:
        assert await _closed_with(live.url, f"/v1/terminals/{terminal_id}/events?ticket=wst_made_up") == (
            1008,
            "unknown ticket",
        )
        assert await _closed_with(live.url, f"/v1/terminals/{terminal_id}/events") == (1008, "unknown ticket")
        foreign = (await ticket_path(other_client)).split("?", 1)[1]
        assert await _closed_with(live.url, f"/v1/terminals/{terminal_id}/events?{foreign}") == (
            1008,
            "the ticket is for another terminal",
        )
        path = await ticket_path(live.terminal)
        async with raw_socket(live.url, path) as first_use:
            assert json.loads(await first_use.recv())["type"] == "hello"
        assert await _closed_with(live.url, path) == (1008, "the ticket was used already")

        await emit_new(live, 1)
        assert seqs(await healthy.events(1)) == [1]  # nothing else was affected


async def test_an_expired_ticket_is_closed_with_1008(settings: Settings) -> None:
    async with live_gateway(settings, ws_ticket_ttl_s=0.05) as live:
        path = await ticket_path(live.terminal)
        await asyncio.sleep(0.2)
        assert await _closed_with(live.url, path) == (1008, "the ticket expired")


@pytest.mark.parametrize(
    ("message", "code"),
    [
        pytest.param('{"type": "ack", "seq": 99}', 1007, id="ack-beyond-what-was-sent"),
        pytest.param('{"type": "ack", "seq": "1"}', 1007, id="ack-not-a-number"),
        pytest.param('{"type": "ack", "seq": true}', 1007, id="ack-boolean"),
        pytest.param('{"type": "subscribe"}', 1007, id="unknown-type"),
        pytest.param("not json", 1007, id="not-json"),
        pytest.param("[1, 2]", 1007, id="not-an-object"),
        pytest.param(b"\x00\x01", 1003, id="binary"),
        pytest.param('{"type": "ping", "pad": "' + "x" * 2000 + '"}', 1009, id="oversized"),
    ],
)
async def test_bad_client_messages_close_only_their_own_connection(
    live: LiveGateway, message: str | bytes, code: int
) -> None:
    async with event_socket(live.url, live.terminal, after=0) as healthy:
        async with event_socket(live.url, live.terminal, after=0) as bad:
            await bad.connection.send(message)
            closed_code, _ = await bad.closed()
            assert closed_code == code
        await emit_new(live, 1)
        assert seqs(await healthy.events(1)) == [1]


async def test_too_many_messages_close_with_1008(live: LiveGateway) -> None:
    async with event_socket(live.url, live.terminal, after=0) as socket:
        for _ in range(100):
            await socket.connection.send('{"type": "pong"}')
        assert await socket.closed() == (1008, "too many messages")


async def test_acking_every_event_of_a_long_replay_is_not_too_many_messages(live: LiveGateway) -> None:
    await emit_new(live, 120)
    async with event_socket(live.url, live.terminal, after=0) as socket:
        for message in await socket.events(120):
            await socket.send({"type": "ack", "seq": message["seq"]})
        await socket.send({"type": "ping"})
        assert await socket.receive() == {"type": "pong"}
        for _ in range(60):  # the same ack again and again is chatter, and counted
            await socket.send({"type": "ack", "seq": 120})
        assert await socket.closed() == (1008, "too many messages")


async def test_a_resume_message_is_required_first(live: LiveGateway) -> None:
    async with raw_socket(live.url, await ticket_path(live.terminal)) as connection:
        assert json.loads(await connection.recv())["type"] == "hello"
        await connection.send('{"type": "ack", "seq": 0}')
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(connection.recv(), 5)
        assert connection.close_code == 1007


async def test_a_terminal_that_falls_behind_is_closed_and_resumes_from_its_ack(settings: Settings) -> None:
    async with live_gateway(settings, ws_queue_limit=3) as live:
        async with event_socket(live.url, live.terminal, after=0) as socket:
            await emit_new(live, 1)
            assert seqs(await socket.events(1)) == [1]
            await socket.send({"type": "ack", "seq": 1})
            await emit_new(live, 8)  # one commit: 8 events land in a backlog of 3 at once
            code, _reason = await socket.closed()
        assert code == 1013
        async with event_socket(live.url, live.terminal, after=1) as socket:
            assert seqs(await socket.events(8)) == list(range(2, 10))


async def test_silent_terminals_are_closed_and_live_ones_last_until_the_maximum_lifetime(settings: Settings) -> None:
    async with live_gateway(settings, ws_heartbeat_s=0.1, ws_max_lifetime_s=1.0) as live:
        async with event_socket(live.url, live.terminal, after=0) as silent:
            assert (await silent.connection.recv()) == '{"type":"ping"}'
            assert await silent.closed() == (1001, "heartbeat missed")

        async with event_socket(live.url, live.terminal, after=0) as lively:
            pings = 0
            with contextlib.suppress(ConnectionClosed):
                while True:
                    message = json.loads(await asyncio.wait_for(lively.connection.recv(), 5))
                    assert message == {"type": "ping"}
                    pings += 1
                    await lively.send({"type": "pong"})
            assert pings >= 3
            assert (lively.connection.close_code, lively.connection.close_reason) == (
                1001,
                "maximum connection lifetime reached; reconnect",
            )


async def test_polling_returns_the_same_stream(live: LiveGateway) -> None:
    terminal_id = live.credentials["terminal_id"]
    async with event_socket(live.url, live.terminal, after=0) as socket:
        await emit_new(live, 3)
        pushed = await socket.events(3)
    everything = await live.terminal.poll_events(terminal_id, after=0)
    assert everything.status_code == 200, everything.text
    assert everything.json() == {"items": pushed, "next_after": 3}
    tail = (await live.terminal.poll_events(terminal_id, after=2)).json()
    assert (tail["items"], tail["next_after"]) == (pushed[2:], 3)
    assert (await live.terminal.poll_events(terminal_id, after=3)).json() == {"items": [], "next_after": 3}
    assert await live.runtime.events.log.acked(terminal_id) == 3  # polling after N acknowledges N


async def test_polling_refuses_bad_requests(live: LiveGateway) -> None:
    _, other_client = await second_terminal(live)
    terminal_id = live.credentials["terminal_id"]
    foreign = await other_client.poll_events(terminal_id, after=0)
    assert (foreign.status_code, foreign.json()["code"]) == (403, "other_terminal")
    negative = await live.terminal.request("GET", f"/v1/terminals/{terminal_id}/events?after=-1")
    assert (negative.status_code, negative.json()["code"]) == (422, "validation_error")
    unknown = await live.terminal.request("GET", f"/v1/terminals/{terminal_id}/events?since=1")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_parameter")
    unsigned = await live.http.get(f"{live.url}/v1/terminals/{terminal_id}/events")
    assert unsigned.status_code in (401, 422)
    no_ticket = await live.http.post(f"{live.url}/v1/terminal/events/ticket")
    assert no_ticket.status_code in (401, 422)


async def test_an_event_too_large_for_a_notification_still_arrives_in_order(live: LiveGateway) -> None:
    merchant = demo_merchant(live)
    order = await insert_order(live.runtime, merchant)
    async with event_socket(live.url, live.terminal, after=0) as socket:
        await emit_new(live, 1)
        # PostgreSQL's NOTIFY takes at most 8000 bytes
        await live.runtime.db.transaction(lambda tx: write_event(tx, order, "order.paid", {"note": "x" * 9000}))
        await emit_new(live, 1)
        received = await socket.events(3)
    assert seqs(received) == [1, 2, 3]
    assert received[1]["data"] == {"note": "x" * 9000}


async def test_events_committed_while_the_listener_reconnects_still_arrive(live: LiveGateway) -> None:
    listener = live.runtime.events.listener
    if listener is None:
        pytest.skip("SQLite: one process, no LISTEN connection")
    await asyncio.wait_for(listener.listening.wait(), 10)
    async with event_socket(live.url, live.terminal, after=0) as socket:
        await emit_new(live, 1)
        assert seqs(await socket.events(1)) == [1]
        lost_pid = listener.server_pid
        await live.runtime.db.transaction(
            lambda tx: tx.connection.execute(text(f"SELECT pg_terminate_backend({lost_pid})"))
        )
        await emit_new(live, 2)  # nobody here listens right now
        assert seqs(await socket.events(2)) == [2, 3]  # read from the outbox once the listener is back
        assert listener.server_pid != lost_pid
