"""Creating and changing orders: new orders, and transitions as compare-and-set + audit row + outbox event."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.domain.channels import Channel
from gateway.domain.ids import new_id
from gateway.domain.orders import OrderKind, OrderStatus, check_transition
from gateway.persistence.tables import Order, OrderTransition, OutboxEvent, Terminal, WebhookEndpoint
from gateway.realtime.hub import TerminalEvent
from gateway.realtime.sources import publish_after_commit
from gateway.services.terminals import TerminalContext
from gateway.services.webhooks import enqueue_webhook


def new_order(
    terminal: TerminalContext,
    *,
    out_trade_no: str,
    kind: OrderKind,
    channel: Channel | None,
    amount_fen: int,
    status: OrderStatus,
    description: str,
    now: datetime,
    **fields: Any,
) -> Order:
    """A new order of the terminal (and its merchant, store and operator), stamped `now`; `fields` add columns."""
    return Order(
        id=new_id("ord"),
        merchant_id=terminal.merchant_id,
        store_id=terminal.store_id,
        terminal_id=terminal.terminal_id,
        operator_id=terminal.operator_id,
        out_trade_no=out_trade_no,
        kind=kind,
        channel=channel,
        amount_fen=amount_fen,
        refunded_fen=0,
        status=status,
        description=description,
        created_at=now,
        updated_at=now,
        **fields,
    )


def order_event_payload(order: Order) -> dict[str, Any]:
    """What terminals and merchants are told about an order."""
    return {
        "order_id": order.id,
        "out_trade_no": order.out_trade_no,
        "kind": order.kind,
        "channel": order.channel,
        "status": order.status,
        "amount_fen": order.amount_fen,
        "refunded_fen": order.refunded_fen,
        "channel_trade_no": order.channel_trade_no,
        "auth_code_masked": order.auth_code_masked,
        "failure_code": order.failure_code,
        "paid_at": order.paid_at.isoformat() if order.paid_at else None,
        "updated_at": order.updated_at.isoformat(),
    }


async def transition(
    session: AsyncSession,
    order_id: str,
    expected: OrderStatus,
    target: OrderStatus,
    cause: str,
    actor: str,
    detail: dict[str, Any] | None = None,
    **fields: Any,
) -> Order | None:
    """Move the order from `expected` to `target` with `fields`; None when it is not (or no longer) in `expected`.

    A repeat of a transition that already happened is a no-op (None), so duplicate results are harmless.
    The caller owns the transaction: the event and audit row commit or roll back with the change.
    """
    if not check_transition(expected, target):
        return None
    now = datetime.now(UTC)
    order = await session.scalar(
        update(Order)
        .where(Order.id == order_id, Order.status == expected)
        .values(status=target, updated_at=now, **fields)
        .returning(Order)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    if order is None:
        return None
    session.add(
        OrderTransition(
            order_id=order_id,
            from_status=expected,
            to_status=target,
            cause=cause,
            actor=actor,
            at=now,
            detail=detail or {},
        )
    )
    if target is not expected and target.is_final:
        await write_event(session, order, f"order.{target.lower()}", order_event_payload(order))
    return order


#: Built once: composing them per event took about a fifth of a writing transaction's CPU (every payment writes
#: one). The sequence update also answers whether the merchant has a notify URL, saving a query per event.
_NEXT_EVENT_SEQ = (
    update(Terminal)
    .where(Terminal.id == bindparam("event_terminal"))
    .values(event_seq=Terminal.event_seq + 1)
    .returning(
        Terminal.event_seq,
        select(WebhookEndpoint.url).where(WebhookEndpoint.merchant_id == bindparam("event_merchant")).scalar_subquery(),
    )
)
_INSERT_EVENT = insert(OutboxEvent)


async def write_event(session: AsyncSession, order: Order, event_type: str, payload: dict[str, Any]) -> TerminalEvent:
    """An outbox event for the order's terminal, numbered in this transaction by the terminal's sequence.

    Two statements on the session's connection (no unit-of-work pass): the sequence, then the row. Changes the
    session holds are flushed first, so the row never precedes what it refers to.
    """
    await session.flush()
    connection = await session.connection()
    numbered = await connection.execute(
        _NEXT_EVENT_SEQ, {"event_terminal": order.terminal_id, "event_merchant": order.merchant_id}
    )
    seq, notify_url = numbered.one()
    created_at = datetime.now(UTC)
    inserted = await connection.execute(
        _INSERT_EVENT,
        {
            "terminal_id": order.terminal_id,
            "merchant_id": order.merchant_id,
            "order_id": order.id,
            "seq": seq,
            "type": event_type,
            "payload": payload,
            "created_at": created_at,
        },
    )
    key = inserted.inserted_primary_key
    assert key is not None
    event = TerminalEvent(key[0], order.terminal_id, seq, event_type, order.id, payload, created_at)
    publish_after_commit(session, connection, event)
    if notify_url is not None:
        await enqueue_webhook(session, event, order.merchant_id, notify_url)
    return event


class OrderWatch:
    """Lets a request wait, in this process, for an order to reach a final state."""

    def __init__(self) -> None:
        self._waiters: dict[str, list[asyncio.Event]] = defaultdict(list)

    async def wait(self, order_id: str, timeout_s: float) -> None:
        """Return when the order is reported final, or after `timeout_s`; the caller re-reads the order."""
        event = asyncio.Event()
        self._waiters[order_id].append(event)
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            pass
        finally:
            waiters = self._waiters.get(order_id)
            if waiters is not None:
                waiters.remove(event)
                if not waiters:
                    del self._waiters[order_id]

    def finished(self, order_id: str) -> None:
        for event in self._waiters.get(order_id, ()):
            event.set()
