"""Beijing time, used only at the edges: the zone, and the business day an aware UTC instant falls on."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")


def business_day(at: datetime) -> date:
    """The Beijing calendar day of an aware instant (the channels' and the shops' day)."""
    return at.astimezone(BEIJING).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The aware UTC instants a Beijing business day starts at and ends before."""
    start = datetime.combine(day, time(), BEIJING).astimezone(UTC)
    return start, start + timedelta(days=1)
