"""C-scan-B rules: which channels a dynamic code may name, how long it lives, and when to query it."""

from __future__ import annotations

from enum import StrEnum

from gateway.domain.channels import Channel
from gateway.domain.errors import InvalidInput
from gateway.domain.machine import Machine

#: The channel value that asks for one gateway code any of the three wallet apps can scan.
AGGREGATE = "aggregate"

#: A dynamic code lives at most 2 h on every channel (WeChat code_url, Alipay qr_code, UnionPay qrCode), which is
#: also WeChat's default; WeChat asks for at least 1 minute (CHANNELS.md sections 3 and 6).
MIN_EXPIRY_S = 60
MAX_EXPIRY_S = 7200
DEFAULT_EXPIRY_S = MAX_EXPIRY_S

#: Without a notification, query an open code after each delay in turn (the last repeats) until it closes.
SWEEP_DELAYS_S: tuple[float, ...] = (5.0, 5.0, 10.0, 10.0, 30.0, 60.0)

#: How long after expiry the gateway keeps asking a channel it could not reach whether a closed code was paid.
GIVE_UP_AFTER_EXPIRY_S = 24 * 3600


class QrAttemptStatus(StrEnum):
    """One channel order behind a QR order (an aggregate code can have one per wallet app)."""

    OPEN = "OPEN"  # its code may still be paid
    CLOSED = "CLOSED"  # the channel confirmed it can no longer be paid
    PAID = "PAID"  # it carries the order's payment
    REFUNDED = "REFUNDED"  # paid although the order was closed or paid already: the money goes back


A = QrAttemptStatus

#: Every allowed (from, to) pair with what causes it; (None, OPEN) is how every attempt starts.
QR_ATTEMPT_MACHINE: Machine[QrAttemptStatus] = Machine(
    "QR attempt",
    QrAttemptStatus,
    {
        (None, A.OPEN): "a channel code asked for (at creation, or when a wallet app first opens an aggregate code)",
        (A.OPEN, A.CLOSED): "the channel confirmed the code can no longer be paid, or never issued it",
        (A.OPEN, A.PAID): "the channel reported the payment (notification or query)",
        # Closed locally when the channel said "unpaid" at expiry; a payment it reports later is still taken.
        (A.CLOSED, A.PAID): "the channel reported a payment after the attempt was closed",
        (A.PAID, A.REFUNDED): "the order could not take this payment (closed, or paid through another app)",
    },
)


def parse_qr_channel(value: str) -> Channel | None:
    """The channel a QR order is for, or None for an aggregate code; anything else is refused."""
    if value == AGGREGATE:
        return None
    try:
        return Channel(value)
    except ValueError:
        choices = ", ".join([*(channel.value for channel in Channel), AGGREGATE])
        raise InvalidInput(f"channel must be one of {choices}", code="unknown_channel") from None


def validate_expiry(expires_in_s: int | None) -> int:
    """Seconds the code stays payable: the default when not given, else within the channels' limits."""
    if expires_in_s is None:
        return DEFAULT_EXPIRY_S
    if isinstance(expires_in_s, bool) or not MIN_EXPIRY_S <= expires_in_s <= MAX_EXPIRY_S:
        raise InvalidInput(
            f"expires_in_s must be between {MIN_EXPIRY_S} and {MAX_EXPIRY_S} seconds", code="invalid_expiry"
        )
    return expires_in_s


def sweep_delay(attempt: int) -> float:
    return SWEEP_DELAYS_S[min(attempt, len(SWEEP_DELAYS_S) - 1)]
