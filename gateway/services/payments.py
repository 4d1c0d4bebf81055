"""B-scan-C payments: charge a payment code once, follow up on pending answers, reverse at the deadline."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.protocol import (
    AuthCodeInvalid,
    ChannelAdapter,
    ChannelError,
    DefiniteFailure,
    MicropayRequest,
    OrderNotFound,
    OrderStateConflict,
    PaymentDeclined,
    RequestRejected,
    TradeResult,
    TradeStatus,
)
from gateway.config import Settings
from gateway.domain.channels import Channel
from gateway.domain.codes import classify_payment_code, mask_payment_code
from gateway.domain.errors import Conflict, InvalidInput
from gateway.domain.followup import DEFAULT_FOLLOW_UP, FollowUpPolicy
from gateway.domain.money import validate_amount
from gateway.domain.orders import OrderKind, OrderStatus
from gateway.persistence.tables import Order, OrderTransition, Terminal, UsedPaymentCode
from gateway.services import jobs
from gateway.services.jobs import ClaimedJob
from gateway.services.terminals import TerminalContext, require_operator_if_needed
from gateway.services.transitions import OrderWatch, new_order, transition

log = logging.getLogger(__name__)

FOLLOW_UP_JOB = "micropay_follow_up"
REVERSE_JOB = "micropay_reverse"
#: How long a job waits before a worker takes it over from a request that may have died mid-call.
LEASE_FOR_A_CALL = timedelta(seconds=30)
CODE_REUSE_WINDOW = timedelta(hours=24)
_COUNTED_FOR_DAILY_LIMIT = (OrderStatus.PAYING, OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)

#: Definite channel failures, as the failure_code an order and the terminal see.
_FAILURE_CODES: tuple[tuple[type[ChannelError], str], ...] = (
    (PaymentDeclined, "payment_declined"),
    (AuthCodeInvalid, "payment_code_invalid"),
    (OrderStateConflict, "channel_order_conflict"),
    (RequestRejected, "channel_rejected_request"),
)


@dataclass(frozen=True)
class MicropayInput:
    out_trade_no: str
    amount_fen: int
    auth_code: str
    description: str = ""


def channel_order_no(order_id: str) -> str:
    """The out_trade_no the channel sees: our order id without its underscore (every channel accepts it)."""
    return order_id.replace("_", "")


class PaymentService:
    """The B-scan-C use cases and the follow-up job that drives a PAYING order to a final state."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        adapters: Mapping[str, ChannelAdapter],
        settings: Settings,
        watch: OrderWatch,
        fingerprint_code: Callable[[str], str],
        wake_worker: Callable[[], None],
    ) -> None:
        self._sessions = sessions
        self._adapters = adapters
        self._settings = settings
        self._watch = watch
        self._fingerprint_code = fingerprint_code
        self._wake_worker = wake_worker

    # ---- the request -------------------------------------------------------------------------------

    def validate(self, terminal: TerminalContext, request: MicropayInput) -> Channel:
        """Every check that needs no database: refused here, nothing is written and no channel is called."""
        channel = classify_payment_code(request.auth_code)
        if channel not in self._adapters:
            raise InvalidInput(f"{channel} is not configured on this gateway", code="channel_not_configured")
        self.check_terminal_may_charge(terminal, request.amount_fen)
        return channel

    def check_terminal_may_charge(self, terminal: TerminalContext, amount_fen: int) -> None:
        """The amount and operator rules, for any payment request before its code is known."""
        validate_amount(amount_fen, self._settings.max_amount_fen)
        if terminal.single_limit_fen is not None and amount_fen > terminal.single_limit_fen:
            raise InvalidInput(
                f"this terminal takes at most {terminal.single_limit_fen} fen per payment", code="over_single_limit"
            )
        require_operator_if_needed(terminal)

    async def micropay(self, terminal: TerminalContext, request: MicropayInput) -> Order:
        """Charge the code once; returns the order final, or PAYING if the channel needs longer than the wait."""
        channel = self.validate(terminal, request)
        order = await self._create(terminal, request, channel)
        final = await self._charge(order, request.auth_code)
        return final or await self.wait_for_final(order.id, self._settings.micropay_wait_s)

    async def wait_for_final(self, order_id: str, timeout_s: float) -> Order:
        order = await self._load(order_id)
        if not order.status.is_final and timeout_s > 0:
            await self._watch.wait(order_id, timeout_s)
            order = await self._load(order_id)
        return order

    async def _create(self, terminal: TerminalContext, request: MicropayInput, channel: Channel) -> Order:
        now = datetime.now(UTC)
        policy = self._policy(channel)
        code_hash = self._fingerprint_code(request.auth_code.strip())
        actor = f"terminal:{terminal.terminal_id}"
        order = new_order(
            terminal,
            out_trade_no=request.out_trade_no,
            kind=OrderKind.MICROPAY,
            channel=channel,
            amount_fen=request.amount_fen,
            status=OrderStatus.PAYING,
            description=request.description,
            now=now,
            auth_code_masked=mask_payment_code(request.auth_code.strip()),
            deadline_at=now + self._scaled(policy.deadline_s),
        )
        order.transitions = [
            OrderTransition(to_status=OrderStatus.CREATED, cause="payment code received", actor=actor, at=now),
            OrderTransition(
                from_status=OrderStatus.CREATED,
                to_status=OrderStatus.PAYING,
                cause="micropay sent to the channel",
                actor=actor,
                at=now,
                detail={
                    "channel": channel,
                    "deadline_at": order.deadline_at.isoformat() if order.deadline_at else None,
                },
            ),
        ]
        try:
            async with self._sessions.begin() as session:
                await self._refuse_duplicates(session, terminal.merchant_id, request, code_hash, now)
                await self.check_daily_limit(session, terminal, request.amount_fen, now)
                session.add(order)
                session.add(UsedPaymentCode(code_hash=code_hash, order_id=order.id, used_at=now))
                # Written with the order: if we die during the channel call, the worker takes over from here.
                first_check = (
                    now + timedelta(seconds=self._settings.channel_timeout_s) + self._scaled(policy.query_delay(0))
                )
                await jobs.schedule(session, FOLLOW_UP_JOB, order.id, first_check)
        except IntegrityError:
            # A concurrent request took the out_trade_no or the code between our check and our insert.
            async with self._sessions() as session:
                await self._refuse_duplicates(session, terminal.merchant_id, request, code_hash, now)
            raise
        return order

    async def _refuse_duplicates(
        self, session: AsyncSession, merchant_id: str, request: MicropayInput, code_hash: str, now: datetime
    ) -> None:
        taken = await session.scalar(
            select(Order.id).where(Order.merchant_id == merchant_id, Order.out_trade_no == request.out_trade_no)
        )
        if taken is not None:
            raise Conflict(f"out_trade_no {request.out_trade_no} is already used", code="duplicate_out_trade_no")
        used_at = await session.scalar(select(UsedPaymentCode.used_at).where(UsedPaymentCode.code_hash == code_hash))
        if used_at is not None:
            if now - used_at < CODE_REUSE_WINDOW:
                raise Conflict("this payment code was already used; ask for a fresh one", code="payment_code_used")
            await session.delete(await session.get(UsedPaymentCode, code_hash))
            await session.flush()

    async def check_daily_limit(
        self, session: AsyncSession, terminal: TerminalContext, amount_fen: int, now: datetime
    ) -> None:
        """The terminal's daily cap, in the caller's transaction (which then writes the order), for every kind.

        The terminal's row is locked first, so concurrent payments of one terminal are counted one after the other
        (on PostgreSQL; SQLite runs one write transaction at a time anyway).
        """
        if terminal.daily_limit_fen is None:
            return
        await session.execute(select(Terminal.id).where(Terminal.id == terminal.terminal_id).with_for_update())
        offset = timedelta(hours=self._settings.business_utc_offset_hours)
        day_start = datetime.combine((now + offset).date(), datetime.min.time(), UTC) - offset
        taken = await session.scalar(
            select(func.coalesce(func.sum(Order.amount_fen), 0)).where(
                Order.terminal_id == terminal.terminal_id,
                Order.created_at >= day_start,
                Order.status.in_(_COUNTED_FOR_DAILY_LIMIT),
            )
        )
        if int(taken or 0) + amount_fen > terminal.daily_limit_fen:
            raise InvalidInput(
                f"this terminal takes at most {terminal.daily_limit_fen} fen a day", code="over_daily_limit"
            )

    async def _charge(self, order: Order, auth_code: str) -> Order | None:
        """Send the charge; returns the order if the answer made it final."""
        assert order.channel is not None
        adapter = self._adapters[order.channel]
        request = MicropayRequest(
            out_trade_no=channel_order_no(order.id),
            amount_fen=order.amount_fen,
            auth_code=auth_code.strip(),
            description=order.description or "payment",
            terminal_id=order.terminal_id,
        )
        try:
            result = await adapter.micropay(request)
        except DefiniteFailure as failure:
            return await self._fail(order.id, failure, "the channel refused the payment")
        except ChannelError as unknown:
            await self._pending(order.id, 0, f"micropay answer unknown: {unknown.code}")
            return None
        return await self._apply_result(order.id, result, attempt=0, actor=f"channel:{order.channel}")

    # ---- the follow-up jobs --------------------------------------------------------------------------

    async def run_follow_up(self, job: ClaimedJob) -> None:
        """Query until the deadline; at the deadline query once more, and reverse if still not paid."""
        order = await self._load(job.order_id)
        if order.status is not OrderStatus.PAYING or order.channel is None:
            await self._finish_jobs(order.id)
            return
        adapter = self._adapters[order.channel]
        past_deadline = order.deadline_at is not None and datetime.now(UTC) >= order.deadline_at
        try:
            result = await adapter.query(channel_order_no(order.id))
        except ChannelError as error:
            if past_deadline:
                await self._start_reverse(order, adapter)
            else:
                await self._pending(order.id, job.attempts + 1, f"query failed: {error.code}")
            return
        if past_deadline and result.status.is_pending:
            await self._start_reverse(order, adapter)
            return
        await self._apply_result(order.id, result, job.attempts + 1, actor=f"channel:{order.channel}")

    async def run_reverse(self, job: ClaimedJob) -> None:
        """Call reverse again: the channel asked for it, or the last call got no answer."""
        order = await self._load(job.order_id)
        if order.status is not OrderStatus.PAYING or order.channel is None:
            await self._finish_jobs(order.id)
            return
        await self._reverse(order, self._adapters[order.channel], job.attempts)

    async def _start_reverse(self, order: Order, adapter: ChannelAdapter) -> None:
        """From here on only reverses are sent; the job is switched first so a crash resumes reversing."""
        async with self._sessions.begin() as session:
            await jobs.finish(session, FOLLOW_UP_JOB, order.id)
            await jobs.schedule(session, REVERSE_JOB, order.id, datetime.now(UTC) + LEASE_FOR_A_CALL)
        await self._reverse(order, adapter, 0)

    async def _reverse(self, order: Order, adapter: ChannelAdapter, attempt: int) -> None:
        policy = self._policy(Channel(adapter.name))
        actor = f"gateway:reverse:{adapter.name}"
        try:
            outcome = await adapter.reverse(channel_order_no(order.id))
        except OrderNotFound:
            await self._finish_reversed(order.id, actor, {"note": "the channel never saw the charge"})
            return
        except ChannelError as error:
            log.warning("reverse of %s failed (%s); retrying", order.id, error.code)
            await self._reschedule(REVERSE_JOB, order.id, attempt + 1, self._scaled(policy.retry_delay(attempt)))
            return
        if outcome.retry:
            await self._reschedule(REVERSE_JOB, order.id, attempt + 1, self._scaled(policy.reverse_retry_s))
            return
        await self._finish_reversed(order.id, actor, {"action": outcome.action} if outcome.action else {})

    async def _finish_reversed(self, order_id: str, actor: str, detail: dict[str, str]) -> Order | None:
        return await self._finish(order_id, OrderStatus.REVERSED, "deadline reached; reversed", actor, detail)

    # ---- applying answers ----------------------------------------------------------------------------

    async def _apply_result(self, order_id: str, result: TradeResult, attempt: int, actor: str) -> Order | None:
        """Apply what the channel said; returns the order if that made it final."""
        detail = {"channel_status": result.channel_status}
        if result.status is TradeStatus.PAID or result.status is TradeStatus.REFUNDED:
            return await self._finish(
                order_id,
                OrderStatus.PAID,
                "the channel confirmed the payment",
                actor,
                detail,
                channel_trade_no=result.channel_trade_no,
                paid_at=result.paid_at or datetime.now(UTC),
            )
        elif result.status is TradeStatus.REVERSED:
            await self._finish(
                order_id, OrderStatus.REVERSED, "the channel reports the payment reversed", actor, detail
            )
        elif result.status in (TradeStatus.FAILED, TradeStatus.CLOSED):
            await self._finish(
                order_id,
                OrderStatus.FAILED,
                "the channel reports the payment failed",
                actor,
                detail,
                failure_code="payment_failed",
                failure_detail=f"channel status {result.channel_status}",
            )
        await self._pending(order_id, attempt, f"still pending: {result.channel_status or result.status}")
        return None

    async def _fail(self, order_id: str, failure: ChannelError, cause: str) -> Order | None:
        code = next((name for kind, name in _FAILURE_CODES if isinstance(failure, kind)), "channel_failure")
        return await self._finish(
            order_id,
            OrderStatus.FAILED,
            cause,
            "channel",
            {"channel_code": failure.code},
            failure_code=code,
            failure_detail=str(failure)[:256],
        )

    async def _finish(
        self, order_id: str, target: OrderStatus, cause: str, actor: str, detail: dict[str, str], **fields: object
    ) -> Order | None:
        """PAYING -> a final state, ending the order's jobs; returns the order if this call made the change."""
        async with self._sessions.begin() as session:
            changed = await transition(session, order_id, OrderStatus.PAYING, target, cause, actor, detail, **fields)
            if changed is not None:
                await _finish_jobs_in(session, order_id)
        if changed is not None:
            self._watch.finished(order_id)
        return changed

    async def _finish_jobs(self, order_id: str) -> None:
        async with self._sessions.begin() as session:
            await _finish_jobs_in(session, order_id)

    async def _pending(self, order_id: str, attempt: int, note: str) -> None:
        order = await self._load(order_id)
        if order.status is not OrderStatus.PAYING or order.channel is None:
            return
        delay = self._scaled(self._policy(Channel(order.channel)).query_delay(attempt))
        log.info("order %s pending (%s); next check in %.2f s", order_id, note, delay.total_seconds())
        await self._reschedule(FOLLOW_UP_JOB, order_id, attempt, delay, deadline=order.deadline_at)

    async def _reschedule(
        self, kind: str, order_id: str, attempt: int, delay: timedelta, deadline: datetime | None = None
    ) -> None:
        due = datetime.now(UTC) + delay
        if deadline is not None:
            due = min(due, deadline)
        async with self._sessions.begin() as session:
            await jobs.schedule(session, kind, order_id, due, attempts=attempt)
        self._wake_worker()

    # ---- helpers -------------------------------------------------------------------------------------

    async def _load(self, order_id: str) -> Order:
        async with self._sessions() as session:
            order = await session.get(Order, order_id)
        assert order is not None
        return order

    def _policy(self, channel: Channel) -> FollowUpPolicy:
        return self._settings.follow_up.get(channel) or DEFAULT_FOLLOW_UP[channel]

    def _scaled(self, seconds: float) -> timedelta:
        return timedelta(seconds=seconds * self._settings.time_scale)


async def _finish_jobs_in(session: AsyncSession, order_id: str) -> None:
    await jobs.finish(session, FOLLOW_UP_JOB, order_id, REVERSE_JOB)
