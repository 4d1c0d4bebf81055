"""Outbox events are numbered per terminal, in the writing transaction, whichever terminals one commit touches."""

from __future__ import annotations

from sqlalchemy import Row, select

from gateway.persistence.database import Tx
from gateway.persistence.tables import OutboxEvent, Terminal
from tests.realtime.test_terminal_socket import second_terminal
from tests.support.events import demo_merchant, emit
from tests.support.factories import insert_order
from tests.support.live import LiveGateway


async def test_one_commit_numbers_each_terminals_events_from_its_own_sequence(live: LiveGateway) -> None:
    first, (second, _client) = demo_merchant(live), await second_terminal(live)
    a1, b1, a2, b2, a3 = [
        await insert_order(live.runtime, merchant) for merchant in (first, second, first, second, first)
    ]
    await emit(live.runtime, a1, b1, a2)
    await emit(live.runtime, b2, a3)

    def read(tx: Tx) -> tuple[list[Row[tuple[str | None, str, int]]], dict[str, int]]:
        rows = list(tx.connection.execute(select(OutboxEvent.order_id, OutboxEvent.terminal_id, OutboxEvent.seq)))
        counters = {id_: seq for id_, seq in tx.connection.execute(select(Terminal.id, Terminal.event_seq))}
        return rows, counters

    rows, counters = await live.runtime.db.transaction(read)
    numbered = {order_id: (terminal_id, seq) for order_id, terminal_id, seq in rows}
    assert numbered == {
        a1.id: (first.terminal_id, 1),
        b1.id: (second.terminal_id, 1),
        a2.id: (first.terminal_id, 2),
        b2.id: (second.terminal_id, 2),
        a3.id: (first.terminal_id, 3),
    }
    assert (counters[first.terminal_id], counters[second.terminal_id]) == (3, 2)
