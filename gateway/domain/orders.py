"""The order state machine: one transition table, the only place that says which status may follow which."""

from __future__ import annotations

from enum import StrEnum

from gateway.domain.machine import Machine


class OrderStatus(StrEnum):
    """Where an order stands (DESIGN.md section 3)."""

    CREATED = "CREATED"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    PAYING = "PAYING"
    PAID = "PAID"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"
    REVERSED = "REVERSED"
    FAILED = "FAILED"
    CLOSED = "CLOSED"

    @property
    def is_final(self) -> bool:
        """The payment's outcome is known (refunds may still follow a payment)."""
        return self not in (OrderStatus.CREATED, OrderStatus.AWAITING_PAYMENT, OrderStatus.PAYING)

    @property
    def is_absorbing(self) -> bool:
        """Nothing can follow."""
        return ORDER_MACHINE.is_final(self)


class OrderKind(StrEnum):
    """How the customer pays."""

    MICROPAY = "micropay"  # B-scan-C: the terminal scans the customer's payment code
    QR = "qr"  # C-scan-B: the customer scans the terminal's dynamic code


S = OrderStatus

#: Every allowed (from, to) pair with what causes it; (None, CREATED) is how every order starts.
ORDER_MACHINE: Machine[OrderStatus] = Machine(
    "order",
    OrderStatus,
    {
        (None, S.CREATED): "order received",
        (S.CREATED, S.AWAITING_PAYMENT): "precreate accepted by the channel",
        (S.CREATED, S.PAYING): "micropay sent to the channel",
        (S.CREATED, S.FAILED): "the channel refused the order outright",
        (S.AWAITING_PAYMENT, S.PAID): "payment notified or found by a query",
        (S.AWAITING_PAYMENT, S.CLOSED): "expired or cancelled before payment",
        (S.PAYING, S.PAYING): "user paying or unknown: follow-up continues",
        (S.PAYING, S.PAID): "the channel confirmed the payment",
        (S.PAYING, S.REVERSED): "deadline reached and the reverse succeeded",
        (S.PAYING, S.FAILED): "the channel gave a definite failure",
        (S.PAID, S.PARTIALLY_REFUNDED): "part of the amount refunded",
        (S.PAID, S.REFUNDED): "the whole amount refunded",
        (S.PAID, S.VOIDED): "voided in the same batch",
        (S.PARTIALLY_REFUNDED, S.PARTIALLY_REFUNDED): "another partial refund",
        (S.PARTIALLY_REFUNDED, S.REFUNDED): "the rest of the amount refunded",
    },
)
