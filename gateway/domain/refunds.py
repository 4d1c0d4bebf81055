"""Refund states and reasons, shared by automatic refunds (extra payments) and merchant refunds."""

from __future__ import annotations

from enum import StrEnum


class RefundStatus(StrEnum):
    """Where one refund stands at its channel."""

    PENDING = "PENDING"  # to be sent, or sent without a definite answer: sent again with the same number
    PROCESSING = "PROCESSING"  # accepted by the channel, not finished yet: queried until it is
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # the channel refused it; a person has to look

    @property
    def is_final(self) -> bool:
        return self in (RefundStatus.SUCCEEDED, RefundStatus.FAILED)


class RefundReason(StrEnum):
    """Why money is given back."""

    PAID_AFTER_CLOSE = "paid_after_close"  # a payment arrived for an order already closed
    DUPLICATE_PAYMENT = "duplicate_payment"  # a second channel attempt paid an order already paid
