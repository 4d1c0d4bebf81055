"""B-scan-C scan sessions: the states a camera-driven payment request goes through."""

from __future__ import annotations

from enum import StrEnum


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
        return self in (ScanSessionStatus.CHARGED, ScanSessionStatus.CANCELLED, ScanSessionStatus.EXPIRED)
