"""Beijing time, used only at the edges: the zone, and the business day an aware UTC instant falls on."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.domain.errors import InvalidInput

BEIJING = ZoneInfo("Asia/Shanghai")
EARLIEST_BUSINESS_DAY = date(2000, 1, 1)
"""No channel keeps bills, and no gateway took QR payments, before this day; it also keeps the bounds in range."""


def business_day(at: datetime) -> date:
    """The Beijing calendar day of an aware instant (the channels' and the shops' day)."""
    return at.astimezone(BEIJING).date()


def check_business_day(day: date, today: date, *, ended: bool) -> date:
    """A business day a report (`ended=False`: today counts) or a reconciliation (`ended=True`: its bill comes the
    day after) can be about: 422 `future_date` for a later day, `date_out_of_range` before 2000."""
    if day < EARLIEST_BUSINESS_DAY:
        raise InvalidInput(
            f"{day.isoformat()} is before {EARLIEST_BUSINESS_DAY.isoformat()}: no records go back so far",
            code="date_out_of_range",
        )
    if ended and day >= today:
        raise InvalidInput(f"{day} has not ended in Beijing: its bill comes the day after", code="future_date")
    if day > today:
        raise InvalidInput(f"{day} has not begun in Beijing yet (today is {today})", code="future_date")
    return day


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The aware UTC instants a Beijing business day starts at and ends before."""
    start = datetime.combine(day, time(), BEIJING).astimezone(UTC)
    return start, start + timedelta(days=1)


def next_beijing_time(now: datetime, at: time) -> datetime:
    """The first aware UTC instant after `now` at which Beijing's clock shows `at` (a daily job's next run)."""
    today = datetime.combine(business_day(now), at, BEIJING)
    upcoming = today if today > now else datetime.combine(business_day(now) + timedelta(days=1), at, BEIJING)
    return upcoming.astimezone(UTC)
