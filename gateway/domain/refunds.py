"""Refund states and reasons, shared by automatic refunds (extra payments) and merchant refunds."""

from __future__ import annotations

from enum import StrEnum

from gateway.domain.machine import Machine


class RefundStatus(StrEnum):
    """Where one refund stands at its channel."""

    PENDING = "PENDING"  # to be sent, or sent without a definite answer: sent again with the same number
    PROCESSING = "PROCESSING"  # accepted by the channel, not finished yet: queried until it is
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # the channel refused it; a person has to look

    @property
    def is_final(self) -> bool:
        return REFUND_MACHINE.is_final(self)


class RefundReason(StrEnum):
    """Why money is given back."""

    PAID_AFTER_CLOSE = "paid_after_close"  # a payment arrived for an order already closed
    DUPLICATE_PAYMENT = "duplicate_payment"  # a second channel attempt paid an order already paid


R = RefundStatus

#: Every allowed (from, to) pair with what causes it; (None, PENDING) is how every refund starts.
REFUND_MACHINE: Machine[RefundStatus] = Machine(
    "refund",
    RefundStatus,
    {
        (None, R.PENDING): "a refund decided in the order's transaction",
        (R.PENDING, R.PROCESSING): "the channel accepted the refund",
        (R.PENDING, R.SUCCEEDED): "the channel refunded at once",
        (R.PENDING, R.FAILED): "the channel refused the refund, or does not know the trade",
        (R.PROCESSING, R.SUCCEEDED): "the channel's refund query says it succeeded",
        (R.PROCESSING, R.FAILED): "the channel's refund query says it failed",
        # Accepted once, unknown now: it is sent again under the same refund number.
        (R.PROCESSING, R.PENDING): "the channel no longer knows the accepted refund",
    },
)
