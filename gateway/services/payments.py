"""B-scan-C payments: charge a payment code once, follow up on pending answers, reverse at the deadline."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError

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
from gateway.persistence import idempotency, jobs, orders
from gateway.persistence.database import Database, Tx
from gateway.persistence.jobs import ClaimedJob
from gateway.persistence.tables import Order
from gateway.services.fees import FeeSchedule
from gateway.services.idempotency import RequestKey, StoredResponse, answer_in, claim_in
from gateway.services.terminals import TerminalContext, require_operator_if_needed
from gateway.services.transitions import OrderWatch, Step, insert_order, new_order, transition

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


#: How a request shapes its answer from the order (the API's schema): stored with the result for replays.
Answer = Callable[[Order], StoredResponse]
#: Extra work in the transaction that makes an order final (e.g. storing the request's answer).
OnFinal = Callable[[Tx, Order], None]


@dataclass(frozen=True)
class Answered:
    """What a payment request is answered with, and whether it is the replay of an earlier one."""

    response: StoredResponse
    replayed: bool = False


def channel_order_no(order_id: str) -> str:
    """The out_trade_no the channel sees: our order id without its underscore (every channel accepts it)."""
    return order_id.replace("_", "")


class PaymentService:
    """The B-scan-C use cases and the follow-up job that drives a PAYING order to a final state."""

    def __init__(
        self,
        db: Database,
        adapters: Mapping[str, ChannelAdapter],
        settings: Settings,
        watch: OrderWatch,
        fingerprint_code: Callable[[str], str],
        wake_worker: Callable[[], None],
    ) -> None:
        self._db = db
        self._adapters = adapters
        self._settings = settings
        self._watch = watch
        self._fingerprint_code = fingerprint_code
        self._wake_worker = wake_worker
        self._fees = FeeSchedule(settings)

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
        order = await self._create(terminal, request, channel, None)
        assert isinstance(order, Order)
        final = await self._charge(order, request.auth_code)
        return final or await self.wait_for_final(order.id, self._settings.micropay_wait_s)

    async def answer_micropay(
        self, terminal: TerminalContext, request: MicropayInput, key: RequestKey, answer: Answer
    ) -> Answered:
        """`micropay` for a terminal's request: a retry with the same key and body gets the first answer again.

        Two transactions around the channel call: before it, the idempotency claim, the checks, the order, its used
        code and its follow-up job; after it, the result, its event, the job's end and the stored answer.
        """
        channel = self.validate(terminal, request)
        created = await self._create(terminal, request, channel, key)
        if isinstance(created, StoredResponse):
            if created.status == 202:  # the first answer was "still paying": give the news instead
                order = await self.wait_for_final(str(created.body["order_id"]), 0)
                return Answered(answer(order), replayed=True)
            return Answered(created, replayed=True)
        try:
            final = await self._charge(created, request.auth_code, lambda tx, order: answer_in(tx, key, answer(order)))
            if final is not None:
                return Answered(answer(final))
            order = await self.wait_for_final(created.id, self._settings.micropay_wait_s)
            response = answer(order)
            await self._db.transaction(answer_in, key, response)
        except BaseException:
            await self._db.transaction(idempotency.release, key.terminal_id, key.key)
            raise
        return Answered(response)

    async def wait_for_final(self, order_id: str, timeout_s: float) -> Order:
        order = await self._load(order_id)
        if not order.status.is_final and timeout_s > 0:
            await self._watch.wait(order_id, timeout_s)
            order = await self._load(order_id)
        return order

    async def _create(
        self, terminal: TerminalContext, request: MicropayInput, channel: Channel, key: RequestKey | None
    ) -> Order | StoredResponse:
        """The new PAYING order, or (with a `key`) the stored answer when this retries an answered request."""
        now = datetime.now(UTC)
        policy = self._policy(channel)
        code = request.auth_code.strip()
        code_hash = self._fingerprint_code(code)
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
            auth_code_masked=mask_payment_code(code),
            deadline_at=now + self._scaled(policy.deadline_s),
        )
        steps = [
            Step(OrderStatus.CREATED, "payment code received", actor),
            Step(
                OrderStatus.PAYING,
                "micropay sent to the channel",
                actor,
                {"channel": channel, "deadline_at": order.deadline_at.isoformat() if order.deadline_at else None},
            ),
        ]
        # Written with the order: if we die during the channel call, the worker takes over from here.
        first_check = now + timedelta(seconds=self._settings.channel_timeout_s) + self._scaled(policy.query_delay(0))

        def create(tx: Tx) -> Order | StoredResponse:
            if terminal.daily_limit_fen is not None:
                # Before anything that references the terminal: the key claim's foreign-key check shares the row,
                # and two payments sharing it could not both upgrade to the lock the daily count takes (deadlock).
                orders.lock_terminal(tx, terminal.terminal_id)
            stored = None if key is None else claim_in(tx, key, now)
            if stored is not None:
                return stored
            self._refuse_duplicates(tx, terminal.merchant_id, request.out_trade_no, code_hash, now)
            self.check_daily_limit(tx, terminal, request.amount_fen, now)
            insert_order(tx, order, steps)
            orders.record_used_code(tx, code_hash, order.id, now)
            jobs.schedule(tx, FOLLOW_UP_JOB, order.id, first_check)
            return order

        try:
            return await self._db.transaction(create)
        except IntegrityError:
            # A concurrent request took the out_trade_no or the code between our check and our insert.
            await self._db.transaction(
                self._refuse_duplicates, terminal.merchant_id, request.out_trade_no, code_hash, now
            )
            raise

    def _refuse_duplicates(self, tx: Tx, merchant_id: str, out_trade_no: str, code_hash: str, now: datetime) -> None:
        taken, used_at = orders.taken_by(tx, merchant_id, out_trade_no, code_hash)
        if taken is not None:
            raise Conflict(f"out_trade_no {out_trade_no} is already used", code="duplicate_out_trade_no")
        if used_at is not None:
            if now - used_at < CODE_REUSE_WINDOW:
                raise Conflict("this payment code was already used; ask for a fresh one", code="payment_code_used")
            orders.forget_used_code(tx, code_hash)

    def check_daily_limit(self, tx: Tx, terminal: TerminalContext, amount_fen: int, now: datetime) -> None:
        """The terminal's daily cap, in the caller's transaction (which then writes the order), for every kind."""
        if terminal.daily_limit_fen is None:
            return
        offset = timedelta(hours=self._settings.business_utc_offset_hours)
        day_start = datetime.combine((now + offset).date(), datetime.min.time(), UTC) - offset
        taken = orders.taken_today_fen(tx, terminal.terminal_id, day_start, _COUNTED_FOR_DAILY_LIMIT)
        if taken + amount_fen > terminal.daily_limit_fen:
            raise InvalidInput(
                f"this terminal takes at most {terminal.daily_limit_fen} fen a day", code="over_daily_limit"
            )

    async def _charge(self, order: Order, auth_code: str, on_final: OnFinal | None = None) -> Order | None:
        """Send the charge; returns the order if the answer made it final (`on_final` ran in that transaction)."""
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
            return await self._fail(order.id, failure, "the channel refused the payment", on_final)
        except ChannelError as unknown:
            await self._pending(order.id, 0, f"micropay answer unknown: {unknown.code}")
            return None
        return await self._apply_result(order.id, result, 0, f"channel:{order.channel}", on_final)

    # ---- the follow-up jobs --------------------------------------------------------------------------

    async def run_follow_up(self, job: ClaimedJob) -> None:
        """Query until the deadline; at the deadline query once more, and reverse if still not paid."""
        order = await self._load(job.order)
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

    async def query_now(self, order: Order) -> Order:
        """A PAYING order as the channel sees it now (a terminal asks): a final answer is applied as the follow-up
        job applies it (the job then ends); a pending answer or none leaves the order and its job as they are.
        """
        if order.status is not OrderStatus.PAYING or order.channel is None:
            return order
        try:
            result = await self._adapters[order.channel].query(channel_order_no(order.id))
        except ChannelError as error:
            log.info("query of %s on request failed: %s", order.id, error.code)
            return order
        if not result.status.is_pending:
            await self._apply_result(order.id, result, 0, actor=f"gateway:query:{order.channel}")
        return await self._load(order.id)

    async def run_reverse(self, job: ClaimedJob) -> None:
        """Call reverse again: the channel asked for it, or the last call got no answer."""
        order = await self._load(job.order)
        if order.status is not OrderStatus.PAYING or order.channel is None:
            await self._finish_jobs(order.id)
            return
        await self._reverse(order, self._adapters[order.channel], job.attempts)

    async def _start_reverse(self, order: Order, adapter: ChannelAdapter) -> None:
        """From here on only reverses are sent; the job is switched first so a crash resumes reversing."""

        def switch(tx: Tx) -> None:
            jobs.finish(tx, FOLLOW_UP_JOB, order.id)
            jobs.schedule(tx, REVERSE_JOB, order.id, datetime.now(UTC) + LEASE_FOR_A_CALL)

        await self._db.transaction(switch)
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

    async def _apply_result(
        self, order_id: str, result: TradeResult, attempt: int, actor: str, on_final: OnFinal | None = None
    ) -> Order | None:
        """Apply what the channel said; returns the order if that made it final."""
        detail = {"channel_status": result.channel_status}
        if result.status is TradeStatus.PAID or result.status is TradeStatus.REFUNDED:
            return await self._finish(
                order_id,
                OrderStatus.PAID,
                "the channel confirmed the payment",
                actor,
                detail,
                on_final,
                channel_trade_no=result.channel_trade_no,
                paid_at=result.paid_at or datetime.now(UTC),
            )
        elif result.status is TradeStatus.REVERSED:
            return await self._finish(
                order_id, OrderStatus.REVERSED, "the channel reports the payment reversed", actor, detail, on_final
            )
        elif result.status in (TradeStatus.FAILED, TradeStatus.CLOSED):
            return await self._finish(
                order_id,
                OrderStatus.FAILED,
                "the channel reports the payment failed",
                actor,
                detail,
                on_final,
                failure_code="payment_failed",
                failure_detail=f"channel status {result.channel_status}",
            )
        await self._pending(order_id, attempt, f"still pending: {result.channel_status or result.status}")
        return None

    async def _fail(
        self, order_id: str, failure: ChannelError, cause: str, on_final: OnFinal | None = None
    ) -> Order | None:
        code = next((name for kind, name in _FAILURE_CODES if isinstance(failure, kind)), "channel_failure")
        return await self._finish(
            order_id,
            OrderStatus.FAILED,
            cause,
            "channel",
            {"channel_code": failure.code},
            on_final,
            failure_code=code,
            failure_detail=str(failure)[:256],
        )

    async def _finish(
        self,
        order_id: str,
        target: OrderStatus,
        cause: str,
        actor: str,
        detail: dict[str, str],
        on_final: OnFinal | None = None,
        **fields: object,
    ) -> Order | None:
        """PAYING -> a final state, ending the order's jobs; returns the order if this call made the change."""

        def finish(tx: Tx) -> Order | None:
            changed = transition(tx, order_id, OrderStatus.PAYING, target, cause, actor, detail, **fields)
            if changed is not None:
                if target is OrderStatus.PAID:
                    self._fees.charge(tx, changed)
                _finish_jobs_in(tx, order_id)
                if on_final is not None:
                    on_final(tx, changed)
            return changed

        changed = await self._db.transaction(finish)
        if changed is not None:
            self._watch.finished(order_id)
        return changed

    async def _finish_jobs(self, order_id: str) -> None:
        await self._db.transaction(_finish_jobs_in, order_id)

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
        await self._db.transaction(jobs.schedule, kind, order_id, due, attempt)
        self._wake_worker()

    # ---- helpers -------------------------------------------------------------------------------------

    async def _load(self, order_id: str) -> Order:
        order = await self._db.transaction(orders.load_order, order_id)
        assert order is not None
        return order

    def _policy(self, channel: Channel) -> FollowUpPolicy:
        return self._settings.follow_up.get(channel) or DEFAULT_FOLLOW_UP[channel]

    def _scaled(self, seconds: float) -> timedelta:
        return timedelta(seconds=seconds * self._settings.time_scale)


def _finish_jobs_in(tx: Tx, order_id: str) -> None:
    jobs.finish(tx, FOLLOW_UP_JOB, order_id, REVERSE_JOB)
