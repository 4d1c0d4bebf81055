"""Daily reports of a merchant's Beijing business day."""

from __future__ import annotations

from datetime import UTC, date, datetime

from gateway.domain.beijing import business_day, check_business_day, day_bounds
from gateway.domain.reports import DailyReport, daily_report
from gateway.persistence import reports as repo
from gateway.persistence.database import Database, Tx


class ReportService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def daily(self, merchant_id: str, day: date) -> DailyReport:
        """The day's takings per store, terminal and channel (today's so far); 422 `future_date` for a later day."""
        check_business_day(day, business_day(datetime.now(UTC)), ended=False)
        start, end = day_bounds(day)

        def read(tx: Tx) -> DailyReport:
            payments = repo.day_payments(tx, merchant_id, start, end)
            refunds = repo.day_refunds(tx, merchant_id, start, end)
            return daily_report(merchant_id, day, payments, refunds)

        return await self._db.transaction(read)
