"""B-scan-C scan sessions: the states a camera-driven payment request goes through, and their transition table."""

from __future__ import annotations

from enum import StrEnum

from gateway.domain.machine import Machine


class ScanSessionStatus(StrEnum):
    """OPEN -> CHARGING -> CHARGED (the order carries the outcome); OPEN -> CANCELLED | EXPIRED.

    A refused charge (a used code, a limit) goes CHARGING -> OPEN, so the customer can show another code.
    """

    OPEN = "OPEN"
    CHARGING = "CHARGING"
    CHARGED = "CHARGED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"

    @property
    def is_final(self) -> bool:
        return SCAN_SESSION_MACHINE.is_final(self)


S = ScanSessionStatus

#: Every allowed (from, to) pair with what causes it; (None, OPEN) is how every session starts.
SCAN_SESSION_MACHINE: Machine[ScanSessionStatus] = Machine(
    "scan session",
    ScanSessionStatus,
    {
        (None, S.OPEN): "the terminal asked its camera for a payment code",
        (S.OPEN, S.CHARGING): "the camera read a payment code",
        (S.OPEN, S.CANCELLED): "cancelled by the terminal",
        (S.OPEN, S.EXPIRED): "no code was read before the session expired",
        (S.CHARGING, S.CHARGED): "the code became an order (found by its out_trade_no after a crash)",
        # Refused before anything was charged, or a charge that died before its order was written.
        (S.CHARGING, S.OPEN): "the code was not charged: the customer may show another one",
    },
)
