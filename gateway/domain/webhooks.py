"""Webhook delivery states: one outbox event owed to a merchant's notify URL, retried until a 2xx or the ladder ends."""

from __future__ import annotations

from enum import StrEnum

from gateway.domain.machine import Machine


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # the retry ladder ran out, or the notify URL was removed


D = DeliveryStatus

#: Every allowed (from, to) pair with what causes it; (None, PENDING) is how every delivery starts.
WEBHOOK_DELIVERY_MACHINE: Machine[DeliveryStatus] = Machine(
    "webhook delivery",
    DeliveryStatus,
    {
        (None, D.PENDING): "an outbox event is owed to the merchant's notify URL",
        # A failed attempt with steps left on the ladder: recorded, and the next attempt scheduled.
        (D.PENDING, D.PENDING): "the attempt failed: another follows on the ladder",
        (D.PENDING, D.DELIVERED): "the notify URL answered 2xx",
        (D.PENDING, D.FAILED): "the retry ladder ran out, or the notify URL was removed",
    },
)
