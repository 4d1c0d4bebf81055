"""Reconciliation (对账): download each channel's bill of a day, match it against our records, repair what a
query of the channel settles, and keep the rest for a person."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from adapters.protocol import Bill, BillNotReady, ChannelAdapter, ChannelError, TradeStatus
from gateway.domain.beijing import business_day, check_business_day, day_bounds, next_beijing_time
from gateway.domain.channels import Channel
from gateway.domain.errors import InvalidInput, NotFound
from gateway.domain.ids import new_id
from gateway.domain.orders import OrderStatus
from gateway.domain.reconciliation import BillLine, BillStatus, Difference, DifferenceKind, compare, count_kinds
from gateway.domain.refunds import RefundReason
from gateway.persistence import jobs
from gateway.persistence import reconciliations as repo
from gateway.persistence import refunds as refunds_repo
from gateway.persistence.database import Database, Tx
from gateway.persistence.jobs import ClaimedJob
from gateway.persistence.orders import load_order
from gateway.persistence.tables import Order, Reconciliation
from gateway.services.refunds import RefundOrder, RefundService
from gateway.services.transactions import TerminalTransactions
from gateway.services.webhooks import notify_merchants

log = logging.getLogger(__name__)

#: An order that ended with no money kept: the bill should not say SUCCESS of it.
ENDED_WITHOUT_MONEY = (OrderStatus.FAILED, OrderStatus.CLOSED, OrderStatus.REVERSED, OrderStatus.VOIDED)
COMPLETED = "completed"
NO_BILL = "no_bill"
UNAVAILABLE = "unavailable"  # the channel did not answer, or its bill could not be read at all: try again
#: The gateway's one job that reconciles yesterday each day at `reconcile_daily_at` Beijing time.
DAILY_RECONCILIATION_JOB = "reconcile_daily"
COMPLETED_EVENT = "reconciliation.completed"


class ReconciliationService:
    def __init__(
        self,
        db: Database,
        adapters: Mapping[str, ChannelAdapter],
        transactions: TerminalTransactions,
        refunds: RefundService,
        wake_worker: Callable[[], None],
        daily_at: time | None,
    ) -> None:
        self._db = db
        self._adapters = adapters
        self._transactions = transactions
        self._refunds = refunds
        self._wake_worker = wake_worker
        #: Beijing time of the daily reconciliation; None: only when asked.
        self._daily_at = daily_at

    async def schedule_daily(self) -> None:
        """At start-up: the daily job, due at the next `daily_at`, unless it is there already (every instance
        asks; the one that claims the job when it is due runs it); dropped when the daily run is turned off."""
        if self._daily_at is None:
            await self._db.transaction(jobs.finish, DAILY_RECONCILIATION_JOB, None)
            return
        due = next_beijing_time(datetime.now(UTC), self._daily_at)
        await self._db.transaction(jobs.ensure_gateway_job, DAILY_RECONCILIATION_JOB, due)

    async def run_daily(self, job: ClaimedJob) -> None:
        """The daily job: yesterday on every channel, then `reconciliation.completed` with its counts to every
        merchant's webhook and the job moved to tomorrow, in one transaction (told once per run)."""
        yesterday = business_day(datetime.now(UTC)) - timedelta(days=1)
        done = await self.reconcile_days([yesterday])

        def payload(merchant_id: str) -> dict[str, Any]:
            views = [reconciliation_view(record, merchant_id) for record in done]
            summaries = [{key: view[key] for key in _SUMMARY_FIELDS} for view in views]
            return {"date": yesterday.isoformat(), "reconciliations": summaries}

        def told_and_moved(tx: Tx) -> int:
            told = notify_merchants(tx, COMPLETED_EVENT, payload)
            if self._daily_at is not None:
                jobs.schedule(tx, DAILY_RECONCILIATION_JOB, None, next_beijing_time(datetime.now(UTC), self._daily_at))
            else:
                jobs.finish(tx, DAILY_RECONCILIATION_JOB, None)
            return told

        told = await self._db.transaction(told_and_moved)
        log.info("daily reconciliation of %s: %d bills, %d merchants told", yesterday, len(done), told)
        self._wake_worker()

    def channels(self, only: Channel | None = None) -> list[Channel]:
        """The channels configured here (or the one asked for; 422 `channel_not_configured` if it is not)."""
        if only is not None and only.value not in self._adapters:
            raise InvalidInput(f"{only} is not configured on this gateway", code="channel_not_configured")
        return [only] if only is not None else [Channel(name) for name in sorted(self._adapters)]

    async def reconcile_days(self, days: list[date], only: Channel | None = None) -> list[Reconciliation]:
        """Each of the days on each channel (or the one asked for), in order."""
        return [await self.reconcile(day, channel) for day in days for channel in self.channels(only)]

    async def reconcile(self, day: date, channel: Channel) -> Reconciliation:
        """Match the channel's bill of the Beijing business day against our payments and refunds: 422
        `future_date` for a day that has not ended (there is no bill before), `no_bill` when the channel has none
        yet (not an error: try again later)."""
        check_business_day(day, business_day(datetime.now(UTC)), ended=True)
        self.channels(channel)
        try:
            bill = await self._adapters[channel.value].download_bill(day)
        except BillNotReady as none:
            log.info("reconciliation of %s %s: no bill (%s)", channel, day, none)
            return await self._save(day, channel, NO_BILL, 0, [], [], str(none))
        except ChannelError as failed:
            log.warning("reconciliation of %s %s: the bill could not be fetched (%s)", channel, day, failed.code)
            return await self._save(day, channel, UNAVAILABLE, 0, [], [], str(failed))
        kept = []
        for found in await self._differences(day, channel, bill):
            unsettled = await self._repaired(found)
            if unsettled is not None:
                kept.append(unsettled)
        self._wake_worker()  # refunds a repair started
        bad = [asdict(line) for line in bill.bad_lines]
        return await self._save(day, channel, COMPLETED, len(bill.entries), kept, bad)

    async def _differences(self, day: date, channel: Channel, bill: Bill) -> list[Difference]:
        start, end = day_bounds(day)
        lines = [
            BillLine(
                e.kind,
                e.out_trade_no,
                e.channel_trade_no,
                e.amount_fen,
                e.fee_fen,
                BillStatus(e.status),
                e.out_refund_no,
                e.line_no,
            )
            for e in bill.entries
        ]

        def read(tx: Tx) -> list[Difference]:
            payments = [line for line in lines if line.kind == "payment"]
            ours = repo.our_payments(
                tx,
                channel,
                start,
                end,
                {line.out_trade_no for line in payments},
                {line.channel_trade_no for line in payments},
            )
            numbers = {line.out_refund_no for line in lines if line.out_refund_no}
            refunds = repo.our_refunds(tx, channel, start, end, numbers)
            return compare(channel, ours, refunds, lines)

        return await self._db.transaction(read)

    async def _repaired(self, found: Difference) -> Difference | None:
        """Ask the channel about a payment we and its bill disagree on. An order we had not finished is settled by
        the answer (None: nothing left to list). Money the channel confirms it kept for an order that ended without
        it (failed, closed, reversed) is given back as the double-payment guard does, once per trade, and listed
        with the refund; anything else is listed as found."""
        if found.what != "payment" or found.order_id is None or found.kind is not DifferenceKind.STATUS_DIFFERS:
            return found
        order = await self._db.transaction(load_order, found.order_id)
        if order is None or order.channel is None:
            return found
        if not order.status.is_final:
            refreshed = await self._transactions.refresh(order)
            log.info("reconciliation: %s was %s, the channel now says %s", order.id, order.status, refreshed.status)
            return found if refreshed.status.value == order.status.value else None
        if found.theirs.get("status") != BillStatus.SUCCESS.value or order.status not in ENDED_WITHOUT_MONEY:
            return found
        trade_no = str(found.theirs.get("channel_trade_no") or "")
        earlier = await self._db.transaction(repo.refund_of_trade, order.id, trade_no)
        if earlier is not None:  # repaired by an earlier run: the channel now says refunded
            return replace(found, repair=f"the money stayed for an order that is {order.status}: refunded as {earlier}")
        try:
            trade = await self._adapters[order.channel.value].query(found.out_trade_no)
        except ChannelError as unknown:
            log.info("reconciliation: query of %s failed (%s); listed", order.id, unknown.code)
            return found
        if trade.status is not TradeStatus.PAID:
            return found  # the channel's own query says the money did not stay: a person compares with the bill
        refund_id = await self._db.transaction(self._give_back, order, found, trade.channel_trade_no or trade_no)
        return replace(found, repair=f"the money stayed for an order that is {order.status}: refunded as {refund_id}")

    def _give_back(self, tx: Tx, order: Order, found: Difference, trade_no: str) -> str:
        """The refund of money kept for an order that ended without it: started once per trade (a concurrent
        reconciliation of the same day waits on the order's row, then finds the other's)."""
        refunds_repo.lock_order(tx, order.id)
        earlier = repo.refund_of_trade(tx, order.id, trade_no)
        if earlier is not None:
            return earlier
        assert order.channel is not None
        what = RefundOrder(
            order.channel, found.out_trade_no, trade_no or None, order.amount_fen, order.amount_fen,
            RefundReason.PAID_AFTER_CLOSE,
        )  # fmt: skip
        refund = self._refunds.start(tx, order, what)
        log.warning("reconciliation: %s kept %d fen for %s order %s; refunding as %s", order.channel,
                    order.amount_fen, order.status, order.id, refund.id)  # fmt: skip
        return refund.id

    async def _save(
        self,
        day: date,
        channel: Channel,
        status: str,
        lines: int,
        found: list[Difference],
        bad: list[dict[str, object]],
        detail: str | None = None,
    ) -> Reconciliation:
        record = Reconciliation(
            id=new_id("rcn"),
            day=day.isoformat(),
            channel=channel,
            status=status,
            bill_lines=lines,
            differences=[{**_shown(d), "todo": d.todo} for d in found],
            bad_lines=bad,
            detail=None if detail is None else detail[:256],
            created_at=datetime.now(UTC),
        )
        await self._db.transaction(repo.add_reconciliation, record)
        return record

    async def get(self, reconciliation_id: str) -> Reconciliation:
        found = await self._db.transaction(repo.get_reconciliation, reconciliation_id)
        if found is None:
            raise NotFound(f"no reconciliation {reconciliation_id}", code="reconciliation_not_found")
        return found


def _shown(found: Difference) -> dict[str, object]:
    shown = asdict(found)
    shown["kind"] = found.kind.value
    shown["channel"] = found.channel.value
    return shown


#: What `reconciliation.completed` says of each channel's reconciliation (the rest: GET /v1/reconciliations/{id}).
_SUMMARY_FIELDS = ("reconciliation_id", "channel", "status", "bill_lines", "counts", "detail")


def reconciliation_view(record: Reconciliation, merchant_id: str | None = None) -> dict[str, Any]:
    """A reconciliation as the API and the CLI show it; for a merchant, only the differences of its own orders and
    the channel's lines no order of ours has (counted again over what is shown)."""
    shown = [
        found for found in record.differences if merchant_id is None or found.get("merchant_id") in (None, merchant_id)
    ]
    return {
        "reconciliation_id": record.id,
        "date": record.day,
        "channel": record.channel.value,
        "status": record.status,
        "bill_lines": record.bill_lines,
        "counts": count_kinds(shown),
        "differences": shown,
        "bad_lines": record.bad_lines,
        "detail": record.detail,
        "created_at": record.created_at.isoformat().replace("+00:00", "Z"),
    }
