"""Webhooks: merchants' notify URLs, the deliveries owed to them and every attempt of each."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update

from gateway.domain.webhooks import DeliveryStatus
from gateway.persistence.database import Tx
from gateway.persistence.tables import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint, table_of

_deliveries = table_of(WebhookDelivery)
_attempts = table_of(WebhookAttempt)
_endpoints = table_of(WebhookEndpoint)

#: Built once: a delivery is written in the transaction of every event a merchant with a notify URL hears of.
_INSERT_DELIVERY = insert(_deliveries)
_INSERT_ATTEMPT = insert(_attempts)
_DELETE_ENDPOINT = delete(_endpoints).where(_endpoints.c.merchant_id == bindparam("merchant_id"))
_INSERT_ENDPOINT = insert(_endpoints)
#: The deliveries of one order's events, or (key None) of the events about no order.
_OF_ORDER = {False: _deliveries.c.order_id == bindparam("order_id"), True: _deliveries.c.order_id.is_(None)}
_PENDING = _deliveries.c.status == DeliveryStatus.PENDING.value
_DUE = {
    no_order: select(_deliveries.c.id)
    .where(of_order, _PENDING, _deliveries.c.next_attempt_at <= bindparam("now"))
    .order_by(_deliveries.c.id)
    for no_order, of_order in _OF_ORDER.items()
}
_NEXT_DUE = {
    no_order: select(func.min(_deliveries.c.next_attempt_at)).where(of_order, _PENDING)
    for no_order, of_order in _OF_ORDER.items()
}
_CLAIM = (
    update(_deliveries)
    .where(
        _deliveries.c.id == bindparam("delivery_id"),
        _deliveries.c.status == DeliveryStatus.PENDING.value,
        _deliveries.c.next_attempt_at <= bindparam("now"),
    )
    .values(next_attempt_at=bindparam("hold_until"))
)


def add_delivery(tx: Tx, event_id: int, merchant_id: str, order_id: str | None, url: str, now: datetime) -> None:
    """A new delivery of the event, due at once (status PENDING: the caller checked the creation path)."""
    tx.connection.execute(
        _INSERT_DELIVERY,
        {
            "event_id": event_id,
            "merchant_id": merchant_id,
            "order_id": order_id,
            "url": url,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
    )


def replace_endpoint(tx: Tx, merchant_id: str, url: str, secret_encrypted: str, now: datetime) -> None:
    """Set the merchant's notify URL, replacing any earlier one."""
    tx.connection.execute(_DELETE_ENDPOINT, {"merchant_id": merchant_id})
    tx.connection.execute(
        _INSERT_ENDPOINT,
        {"merchant_id": merchant_id, "url": url, "secret_encrypted": secret_encrypted, "created_at": now},
    )


def get_endpoint(tx: Tx, merchant_id: str) -> WebhookEndpoint | None:
    return tx.session.get(WebhookEndpoint, merchant_id)


def all_endpoints(tx: Tx) -> list[tuple[str, str]]:
    """Every merchant with a notify URL, and the URL."""
    query = select(_endpoints.c.merchant_id, _endpoints.c.url).order_by(_endpoints.c.merchant_id)
    return [(merchant_id, url) for merchant_id, url in tx.connection.execute(query).all()]


def remove_endpoint(tx: Tx, merchant_id: str) -> bool:
    """False when the merchant had no notify URL."""
    removed = tx.connection.execute(_DELETE_ENDPOINT, {"merchant_id": merchant_id})
    return bool(removed.rowcount)


def merchant_deliveries(
    tx: Tx, merchant_id: str, limit: int, order_id: str | None
) -> list[tuple[WebhookDelivery, OutboxEvent, list[WebhookAttempt]]]:
    """The merchant's deliveries (of one order, if given), newest first, each with its event and its attempts."""
    query = (
        select(WebhookDelivery, OutboxEvent)
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.merchant_id == merchant_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if order_id is not None:
        query = query.where(WebhookDelivery.order_id == order_id)
    rows = [(delivery, event) for delivery, event in tx.session.execute(query).all()]
    attempts = tx.session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_([delivery.id for delivery, _ in rows]))
        .order_by(WebhookAttempt.number)
    )
    by_delivery: dict[int, list[WebhookAttempt]] = {}
    for attempt in attempts:
        by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
    return [(delivery, event, by_delivery.get(delivery.id, [])) for delivery, event in rows]


def due_deliveries(tx: Tx, order_id: str | None, now: datetime) -> list[int]:
    """The order's (`None`: the order-less events') pending deliveries due by `now`, oldest event first."""
    return list(tx.connection.scalars(_DUE[order_id is None], {"order_id": order_id, "now": now}).all())


def next_due(tx: Tx, order_id: str | None) -> datetime | None:
    """When the order's (`None`: the order-less events') next pending delivery is due, if it has one."""
    due: datetime | None = tx.connection.scalar(_NEXT_DUE[order_id is None], {"order_id": order_id})
    return due


def claim(tx: Tx, delivery_id: int, now: datetime, hold_until: datetime) -> bool:
    """Hold a due pending delivery until `hold_until` for one attempt; False if another worker has it or it is not
    due any more. The status does not change: the hold only moves the time it is due."""
    claimed = tx.connection.execute(_CLAIM, {"delivery_id": delivery_id, "now": now, "hold_until": hold_until})
    return claimed.rowcount == 1


def attempt_context(tx: Tx, delivery_id: int) -> tuple[WebhookDelivery, OutboxEvent, WebhookEndpoint | None]:
    """The delivery, its event and the merchant's current notify URL (None once removed)."""
    delivery = tx.session.get(WebhookDelivery, delivery_id)
    assert delivery is not None
    event = tx.session.get(OutboxEvent, delivery.event_id)
    assert event is not None
    return delivery, event, tx.session.get(WebhookEndpoint, delivery.merchant_id)


def add_attempt(
    tx: Tx,
    delivery_id: int,
    number: int,
    at: datetime,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
) -> None:
    tx.connection.execute(
        _INSERT_ATTEMPT,
        {
            "delivery_id": delivery_id,
            "number": number,
            "at": at,
            "status_code": status_code,
            "error": error,
            "duration_ms": duration_ms,
        },
    )


def compare_and_set(tx: Tx, delivery_id: int, expected: DeliveryStatus, target: DeliveryStatus, **fields: Any) -> bool:
    """Move the delivery from `expected` to `target` with `fields` (after WEBHOOK_DELIVERY_MACHINE.check);
    False when it is not in `expected` (any more)."""
    changed = tx.connection.execute(
        update(_deliveries)
        .where(_deliveries.c.id == delivery_id, _deliveries.c.status == expected.value)
        .values(status=target.value, **fields)
    )
    return changed.rowcount == 1
