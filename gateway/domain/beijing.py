"""Beijing time, used only at the edges: the zone, and the business day an aware UTC instant falls on."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")


def business_day(at: datetime) -> date:
    """The Beijing calendar day of an aware instant (the channels' and the shops' day)."""
    return at.astimezone(BEIJING).date()
