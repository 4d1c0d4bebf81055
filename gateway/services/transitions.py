"""Creating and changing orders through the order machine: audit row and outbox event in the same transaction."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.domain.channels import Channel
from gateway.domain.events import TerminalEvent
from gateway.domain.ids import new_id
from gateway.domain.orders import ORDER_MACHINE, OrderKind, OrderStatus
from gateway.persistence import orders as repo
from gateway.persistence.batches import number_transaction
from gateway.persistence.database import Tx
from gateway.persistence.outbox import append_event
from gateway.persistence.tables import Order
from gateway.services.terminals import TerminalContext
from gateway.services.webhooks import enqueue_webhook


@dataclass(frozen=True)
class Step:
    """One status on a new order's path, with what caused it and who."""

    status: OrderStatus
    cause: str
    actor: str
    detail: dict[str, Any] = field(default_factory=dict)


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
        refund_reserved_fen=0,
        refund_count=0,
        status=status,
        description=description,
        created_at=now,
        updated_at=now,
        **fields,
    )


def insert_order(tx: Tx, order: Order, steps: list[Step]) -> None:
    """Write a new order with one audit row per step; the path from nothing is checked against the order machine.

    The order takes its terminal's next voucher number and its merchant's next reference number here, in the
    transaction that writes it (set on `order`): a rollback gives them back, concurrent orders never share one.
    """
    path = ORDER_MACHINE.creation_path(*(step.status for step in steps))
    if path[-1][1] is not order.status:
        raise ValueError(f"the creation path ends at {path[-1][1]}, the order says {order.status}")
    audit = [
        {
            "from_status": source,
            "to_status": target,
            "cause": step.cause,
            "actor": step.actor,
            "at": order.created_at,
            "detail": step.detail,
        }
        for (source, target), step in zip(path, steps, strict=True)
    ]
    number_transaction(tx, order)
    repo.insert_order(tx, order, audit)


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
        "batch_no": order.batch_no,
        "voucher_no": order.voucher_no,
        "reference_no": order.reference_no,
        "updated_at": order.updated_at.isoformat(),
    }


def transition(
    tx: Tx,
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
    if not ORDER_MACHINE.check(expected, target):
        return None
    now = datetime.now(UTC)
    order = repo.compare_and_set(tx, order_id, expected, target, now, fields)
    if order is None:
        return None
    repo.add_transition(tx, order_id, expected, target, cause, actor, now, detail or {})
    if target is not expected and target.is_final:
        write_event(tx, order, f"order.{target.lower()}", order_event_payload(order))
    return order


def write_event(tx: Tx, order: Order, event_type: str, payload: dict[str, Any]) -> TerminalEvent:
    """An outbox event for the order's terminal (and a webhook delivery when the merchant has a notify URL)."""
    event, notify_url = append_event(tx, order.terminal_id, order.merchant_id, order.id, event_type, payload)
    if notify_url is not None:
        enqueue_webhook(tx, event, order.merchant_id, notify_url)
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
