"""Refunds at the channels: recorded in the transaction that decides them, sent and followed up by a job."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.protocol import (
    ChannelAdapter,
    ChannelError,
    DefiniteFailure,
    OrderNotFound,
    RefundRequest,
    RefundResult,
)
from adapters.protocol import RefundStatus as ChannelRefundStatus
from gateway.domain.channels import Channel
from gateway.domain.ids import new_id
from gateway.domain.refunds import REFUND_MACHINE, RefundReason, RefundStatus
from gateway.persistence import jobs
from gateway.persistence import refunds as repo
from gateway.persistence.database import Database, Tx
from gateway.persistence.jobs import ClaimedJob
from gateway.persistence.orders import load_order
from gateway.persistence.tables import Order, Refund
from gateway.services.transitions import write_event

log = logging.getLogger(__name__)

REFUND_JOB = "refund_follow_up"
#: Waits between rounds while a refund is unfinished (the last repeats), before the time scale.
RETRY_DELAYS_S: tuple[float, ...] = (2.0, 5.0, 15.0, 60.0, 300.0)

_FROM_CHANNEL = {
    ChannelRefundStatus.SUCCESS: RefundStatus.SUCCEEDED,
    ChannelRefundStatus.PROCESSING: RefundStatus.PROCESSING,
    ChannelRefundStatus.FAILED: RefundStatus.FAILED,
}


@dataclass(frozen=True)
class RefundOrder:
    """What to refund: a trade at a channel, how much it paid and how much goes back."""

    channel: Channel
    channel_out_trade_no: str
    channel_trade_no: str | None
    total_fen: int
    amount_fen: int
    reason: RefundReason


def refund_event_payload(refund: Refund) -> dict[str, Any]:
    return {
        "refund_id": refund.id,
        "order_id": refund.order_id,
        "channel": refund.channel,
        "out_refund_no": refund.out_refund_no,
        "amount_fen": refund.amount_fen,
        "reason": refund.reason,
        "status": refund.status,
        "channel_refund_no": refund.channel_refund_no,
        "failure_detail": refund.failure_detail,
    }


class RefundService:
    """Starts refunds inside a caller's transaction and drives them to SUCCEEDED or FAILED in the job worker."""

    def __init__(self, db: Database, adapters: Mapping[str, ChannelAdapter], time_scale: float) -> None:
        self._db = db
        self._adapters = adapters
        self._time_scale = time_scale

    def start(self, tx: Tx, order: Order, what: RefundOrder) -> Refund:
        """Record the refund and its job in the caller's transaction; the caller wakes the job worker after it."""
        REFUND_MACHINE.creation_path(RefundStatus.PENDING)
        now = datetime.now(UTC)
        refund_id = new_id("rfd")
        refund = Refund(
            id=refund_id,
            order_id=order.id,
            channel=what.channel,
            channel_out_trade_no=what.channel_out_trade_no,
            channel_trade_no=what.channel_trade_no,
            out_refund_no=refund_id.replace("_", ""),  # letters and digits: every channel accepts it
            total_fen=what.total_fen,
            amount_fen=what.amount_fen,
            reason=what.reason,
            status=RefundStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        repo.add_refund(tx, refund)
        jobs.schedule(tx, REFUND_JOB, order.id, now)
        return refund

    async def run(self, job: ClaimedJob) -> None:
        """One round over the order's unfinished refunds; again later while any is unfinished."""
        unfinished = await self._db.transaction(repo.unfinished, job.order_id)
        still_open = [refund for refund in unfinished if not await self._advance(refund)]

        def reschedule(tx: Tx) -> None:
            if still_open:
                delay = RETRY_DELAYS_S[min(job.attempts, len(RETRY_DELAYS_S) - 1)] * self._time_scale
                due = datetime.now(UTC) + timedelta(seconds=delay)
                jobs.schedule(tx, REFUND_JOB, job.order_id, due, attempts=job.attempts + 1)
            else:
                jobs.finish(tx, REFUND_JOB, job.order_id)

        await self._db.transaction(reschedule)

    async def _advance(self, refund: Refund) -> bool:
        """Send or query the refund once; True when it is final."""
        adapter = self._adapters[refund.channel]
        try:
            if refund.status is RefundStatus.PENDING:
                result = await adapter.refund(
                    RefundRequest(
                        out_trade_no=refund.channel_out_trade_no,
                        out_refund_no=refund.out_refund_no,
                        total_fen=refund.total_fen,
                        refund_fen=refund.amount_fen,
                        reason=refund.reason.value,
                        channel_trade_no=refund.channel_trade_no,
                    )
                )
            else:
                result = await adapter.refund_query(refund.channel_out_trade_no, refund.out_refund_no)
        except OrderNotFound as missing:
            if refund.status is RefundStatus.PROCESSING:  # accepted once, unknown now: send it again, same number
                return await self._record(refund, RefundStatus.PENDING, None, None)
            return await self._record(refund, RefundStatus.FAILED, None, str(missing)[:256])
        except DefiniteFailure as refused:
            return await self._record(refund, RefundStatus.FAILED, None, str(refused)[:256])
        except ChannelError as unknown:
            log.info("refund %s: no answer from %s (%s); trying again", refund.id, refund.channel, unknown.code)
            return False
        return await self._record(refund, _FROM_CHANNEL[result.status], result, None)

    async def _record(
        self, refund: Refund, status: RefundStatus, result: RefundResult | None, failure_detail: str | None
    ) -> bool:
        if status is refund.status:
            return False
        now = datetime.now(UTC)

        def record(tx: Tx) -> bool | None:
            """Whether the refund is final now; None when it already was (nothing changed, nothing to tell)."""
            stored = repo.lock_refund(tx, refund.id)
            assert stored is not None
            if stored.status.is_final:
                return None
            if not REFUND_MACHINE.check(stored.status, status):
                return False  # already there (another round recorded it)
            fields: dict[str, Any] = {"updated_at": now, "failure_detail": failure_detail}
            if result is not None and result.channel_refund_no:
                fields["channel_refund_no"] = result.channel_refund_no
            if status.is_final:
                fields["finished_at"] = now
            changed = repo.compare_and_set(tx, refund.id, stored.status, status, **fields)
            assert changed is not None  # its row is locked
            if status.is_final:
                order = load_order(tx, changed.order_id)
                assert order is not None
                write_event(tx, order, f"refund.{status.lower()}", refund_event_payload(changed))
            return status.is_final

        final = await self._db.transaction(record)
        if final is None:
            return True
        if status is RefundStatus.FAILED:
            log.error(
                "refund %s of order %s refused by %s: %s", refund.id, refund.order_id, refund.channel, failure_detail
            )
        elif status is RefundStatus.SUCCEEDED:
            log.info("refund %s of order %s (%d fen) succeeded", refund.id, refund.order_id, refund.amount_fen)
        return status.is_final
