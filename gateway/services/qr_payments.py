"""C-scan-B payments: dynamic and aggregate codes, channel notifications, the sweep, expiry, cancel, extra payments."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlencode

from sqlalchemy.exc import IntegrityError

from adapters.protocol import (
    ChannelAdapter,
    ChannelError,
    DefiniteFailure,
    NotificationAck,
    PrecreateRequest,
    TradeResult,
    TradeStatus,
)
from gateway.config import Settings
from gateway.domain.channels import Channel
from gateway.domain.errors import Conflict, InvalidInput, NotFound
from gateway.domain.orders import OrderKind, OrderStatus
from gateway.domain.qr import (
    GIVE_UP_AFTER_EXPIRY_S,
    QR_ATTEMPT_MACHINE,
    QrAttemptStatus,
    parse_qr_channel,
    sweep_delay,
    validate_expiry,
)
from gateway.domain.refunds import RefundReason
from gateway.domain.useragent import classify_user_agent
from gateway.persistence import idempotency, jobs, orders, qr_attempts, qr_orders
from gateway.persistence.database import Database, Tx
from gateway.persistence.jobs import ClaimedJob
from gateway.persistence.order_queries import terminal_order
from gateway.persistence.tables import Order, QrAttempt
from gateway.services.fees import FeeSchedule
from gateway.services.idempotency import RequestKey, StoredResponse, answer_in, claim_in
from gateway.services.payments import Answer, Answered, PaymentService, channel_order_no
from gateway.services.refunds import RefundOrder, RefundService
from gateway.services.terminals import TerminalContext
from gateway.services.transitions import Step, insert_order, new_order, order_event_payload, transition, write_event

log = logging.getLogger(__name__)

QR_SWEEP_JOB = "qr_sweep"
QR_EXPIRY_JOB = "qr_expiry"
#: Where channels send payment notifications and where an aggregate code points, under the public base URL.
NOTIFY_PATH = "/v1/notify/{channel}"
AGGREGATE_PATH = "/q/{token}"

_PAID_STATES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED, OrderStatus.VOIDED)
_PAID_AT_CHANNEL = (TradeStatus.PAID, TradeStatus.REFUNDED)
_CLOSED_AT_CHANNEL = (TradeStatus.CLOSED, TradeStatus.REVERSED, TradeStatus.FAILED)
#: Statuses that mean "nobody paid (yet)": once the code has expired at the channel too, nobody can.
_UNPAID_AT_CHANNEL = (TradeStatus.NOT_FOUND, TradeStatus.WAITING)

A = QrAttemptStatus
#: Checked once: every attempt is written OPEN (the creation path of the attempt machine).
QR_ATTEMPT_MACHINE.creation_path(A.OPEN)
#: What a reported payment may claim: an open attempt, or one closed locally whose payment the channel reports late.
_PAYABLE = QR_ATTEMPT_MACHINE.sources_of(A.PAID)


@dataclass(frozen=True)
class QrInput:
    out_trade_no: str
    amount_fen: int
    channel: str  # a channel name, or "aggregate"
    expires_in_s: int | None = None
    description: str = ""


class LandingKind(StrEnum):
    """What the customer who opened an aggregate code is shown."""

    PAY = "pay"  # sent to the scanning app's payment for the order
    CHOOSE_APP = "choose_app"  # opened by something else: say which apps can pay
    PAID = "paid"
    CLOSED = "closed"  # expired or cancelled
    TRY_AGAIN = "try_again"  # the scanning app's channel did not issue its code just now: scan again


@dataclass(frozen=True)
class AggregateLanding:
    kind: LandingKind
    order: Order
    pay_url: str | None = None
    channels: tuple[Channel, ...] = ()


class QrPaymentService:
    """The C-scan-B use cases and the jobs (sweep, expiry) that bring every code to a final state."""

    def __init__(
        self,
        db: Database,
        adapters: Mapping[str, ChannelAdapter],
        settings: Settings,
        payments: PaymentService,
        refunds: RefundService,
        pay_pages: Mapping[str, str],
        wake_worker: Callable[[], None],
    ) -> None:
        """`pay_pages`: per channel, the page a scanning app is sent to with `?code_url=` (the simulators' wallet)."""
        self._db = db
        self._adapters = adapters
        self._settings = settings
        self._payments = payments
        self._refunds = refunds
        self._pay_pages = pay_pages
        self._wake_worker = wake_worker
        self._fees = FeeSchedule(settings)

    # ---- creating a code -----------------------------------------------------------------------------

    def validate(self, terminal: TerminalContext, request: QrInput) -> Channel | None:
        """Every check that needs no database; the channel, or None for an aggregate code."""
        channel = parse_qr_channel(request.channel)
        configured = [name for name in Channel if name in self._adapters]
        if (channel is not None and channel not in self._adapters) or not configured:
            raise InvalidInput(f"{request.channel} is not configured on this gateway", code="channel_not_configured")
        self._payments.check_terminal_may_charge(terminal, request.amount_fen)
        validate_expiry(request.expires_in_s)
        return channel

    async def answer_create(
        self, terminal: TerminalContext, request: QrInput, key: RequestKey, answer: Answer
    ) -> Answered:
        """A channel code (precreated at the channel now) or an aggregate code (at the first scan), answered once
        per request key: a retry with the same key and body gets the order as it stands now.

        An aggregate code is one transaction. A channel code is two, around the precreate call: before it the
        idempotency claim, the order, its attempt and its expiry job; after it the code, the sweep and the answer.
        """
        channel = self.validate(terminal, request)  # bad input is refused before anything is written
        now = datetime.now(UTC)
        order, steps = self._new_code(terminal, request, channel, now)
        expires_at = order.expires_at
        assert expires_at is not None

        def create(tx: Tx) -> Answered | None:
            if terminal.daily_limit_fen is not None:
                # Before anything that references the terminal: the key claim's foreign-key check shares the row,
                # and two requests sharing it could not both upgrade to the lock the daily count takes (deadlock).
                orders.lock_terminal(tx, terminal.terminal_id)
            stored = claim_in(tx, key, now)
            if stored is not None:  # the same order, as it stands now
                current = _load(tx, str(stored.body["order_id"]))
                return Answered(StoredResponse(stored.status, answer(current).body), replayed=True)
            # A taken out_trade_no fails this insert (the unique key says so at no extra query): see below.
            insert_order(tx, order, steps)
            self._payments.check_daily_limit(tx, terminal, request.amount_fen, now)
            if channel is not None:
                qr_attempts.add(tx, order.id, channel, channel_order_no(order.id), A.OPEN, now)
            # Written with the order: whatever happens to this process, the code is closed at its expiry.
            jobs.schedule(tx, QR_EXPIRY_JOB, order.id, expires_at)
            if channel is not None:
                return None
            response = answer(order)
            answer_in(tx, key, response)
            return Answered(response)

        try:
            created = await self._db.transaction(create)
        except IntegrityError:
            # The out_trade_no is taken (maybe by a concurrent request): say so; the claim was rolled back with it.
            if await self._db.transaction(qr_orders.out_trade_no_taken, terminal.merchant_id, request.out_trade_no):
                raise _duplicate(request.out_trade_no) from None
            raise
        if created is not None:
            return created
        assert channel is not None
        try:
            return Answered(await self._issue(order, channel, key, answer))
        except BaseException:
            await self._db.transaction(idempotency.release, key.terminal_id, key.key)
            raise

    def _new_code(
        self, terminal: TerminalContext, request: QrInput, channel: Channel | None, now: datetime
    ) -> tuple[Order, list[Step]]:
        """The new order and its creation path: CREATED until the channel answers; an aggregate code is issued now."""
        expires_at = now + self._scaled(validate_expiry(request.expires_in_s))
        actor = f"terminal:{terminal.terminal_id}"
        steps = [Step(OrderStatus.CREATED, "QR code asked for", actor)]
        fields: dict[str, object] = {"expires_at": expires_at}
        if channel is None:
            token = secrets.token_urlsafe(16)
            fields |= {"qr_token": token, "code_url": self._settings.base_url + AGGREGATE_PATH.format(token=token)}
            steps.append(
                Step(
                    OrderStatus.AWAITING_PAYMENT, "aggregate code issued", actor, {"expires_at": expires_at.isoformat()}
                )
            )
        order = new_order(
            terminal,
            out_trade_no=request.out_trade_no,
            kind=OrderKind.QR,
            channel=channel,
            amount_fen=request.amount_fen,
            status=steps[-1].status,
            description=request.description,
            now=now,
            **fields,
        )
        return order, steps

    async def _issue(self, order: Order, channel: Channel, key: RequestKey, answer: Answer) -> StoredResponse:
        """Precreate the channel code of a new order and answer the request with the order it leaves."""

        def failed(tx: Tx, error: ChannelError) -> StoredResponse:
            current = self._fail_creation(tx, order, error) or _load(tx, order.id)
            response = answer(current)
            answer_in(tx, key, response)
            return response

        try:
            code_url = await self._precreate_at_channel(order, channel)
        except ChannelError as error:
            return await self._db.transaction(failed, error)

        def issued(tx: Tx, code_url: str) -> StoredResponse:
            current = self._record_code(tx, order, channel, code_url) or _load(tx, order.id)
            response = answer(current)
            answer_in(tx, key, response)
            return response

        # No wake-up for the sweep: its first delay (5 s x time_scale) outlasts the job worker's poll (at most 1 s or
        # time_scale), so the worker sees it in time anyway; a wake-up per code cost a claim and a next-due query.
        return await self._db.transaction(issued, code_url)

    async def _precreate_at_channel(self, order: Order, channel: Channel) -> str:
        """Create the channel's order for this attempt (a repeat is harmless: same number, same parameters)."""
        assert order.expires_at is not None
        result = await self._adapters[channel].precreate(
            PrecreateRequest(
                out_trade_no=channel_order_no(order.id),
                amount_fen=order.amount_fen,
                description=order.description or "payment",
                notify_url=self._settings.base_url + NOTIFY_PATH.format(channel=channel),
                expires_at=order.expires_at,
                terminal_id=order.terminal_id,
            )
        )
        return result.code_url

    def _record_code(self, tx: Tx, order: Order, channel: Channel, code_url: str) -> Order | None:
        """The channel issued the attempt's code: a channel code's order awaits payment; the sweep starts.

        Returns the order if this moved it (an aggregate code's order awaits payment already)."""
        assert order.expires_at is not None
        now = datetime.now(UTC)
        qr_attempts.set_code_url(tx, order.id, channel, code_url, now)
        changed = transition(
            tx,
            order.id,
            OrderStatus.CREATED,
            OrderStatus.AWAITING_PAYMENT,
            "precreate accepted by the channel",
            f"channel:{channel}",
            {"channel": channel, "expires_at": order.expires_at.isoformat()},
            code_url=code_url,
        )
        jobs.schedule(tx, QR_SWEEP_JOB, order.id, now + self._scaled(sweep_delay(0)))
        return changed

    def _fail_creation(self, tx: Tx, order: Order, error: ChannelError) -> Order | None:
        """No code was shown to anybody, so nobody can pay it: the order fails and its attempt is closed."""
        code = "channel_rejected_request" if isinstance(error, DefiniteFailure) else "channel_unavailable"
        failed = transition(
            tx,
            order.id,
            OrderStatus.CREATED,
            OrderStatus.FAILED,
            "the channel did not issue a code",
            f"channel:{order.channel}",
            {"channel_code": error.code},
            failure_code=code,
            failure_detail=str(error)[:256],
        )
        _close_open_attempts(tx, order_id=order.id)
        jobs.finish(tx, QR_EXPIRY_JOB, order.id)
        return failed

    async def get(self, order_id: str) -> Order:
        return await self._db.transaction(_load, order_id)

    # ---- the aggregate code --------------------------------------------------------------------------

    async def open_aggregate(self, token: str, user_agent: str | None) -> AggregateLanding:
        """Someone opened /q/{token}: send a wallet app to its channel's payment; anyone else gets told what to do
        (TRY_AGAIN when the scanning app's channel cannot create its order right now)."""
        app = classify_user_agent(user_agent)
        configured = tuple(channel for channel in Channel if channel in self._adapters)
        wanted = app.channel if app is not None and app.channel in self._adapters else None

        def land(tx: Tx) -> AggregateLanding | tuple[Order, QrAttempt]:
            """What the code shows, or (when a wallet app can pay it) the order and that app's attempt."""
            order = qr_orders.by_token(tx, token)
            if order is None:
                raise NotFound("no such payment code", code="qr_code_not_found")
            if order.status in _PAID_STATES:
                return AggregateLanding(LandingKind.PAID, order)
            assert order.expires_at is not None
            if order.status is not OrderStatus.AWAITING_PAYMENT or datetime.now(UTC) >= order.expires_at:
                return AggregateLanding(LandingKind.CLOSED, order)
            if wanted is None:
                return AggregateLanding(LandingKind.CHOOSE_APP, order, channels=configured)
            return order, _attempt_for_app(tx, order, wanted)

        landed = await self._db.transaction(land)
        if isinstance(landed, AggregateLanding):
            return landed
        order, attempt = landed
        try:
            code_url = attempt.code_url or await self._precreate(order, attempt.channel)
        except ChannelError as error:
            log.info("order %s: %s did not issue its code (%s)", order.id, attempt.channel, error.code)
            return AggregateLanding(LandingKind.TRY_AGAIN, order, channels=configured)
        page = self._pay_pages.get(attempt.channel)
        pay_url = f"{page}?{urlencode({'code_url': code_url})}" if page else code_url
        return AggregateLanding(LandingKind.PAY, order, pay_url=pay_url, channels=configured)

    async def _precreate(self, order: Order, channel: Channel) -> str:
        """Precreate an app's code of an aggregate order and record it."""
        code_url = await self._precreate_at_channel(order, channel)
        await self._db.transaction(self._record_code, order, channel, code_url)  # no wake-up: see _issue
        return code_url

    # ---- notifications -------------------------------------------------------------------------------

    async def handle_notification(self, channel_name: str, body: bytes, content_type: str | None) -> NotificationAck:
        """Verify, check against the order, apply once; answer with the channel's own acknowledgement or failure."""
        adapter = self._adapters.get(channel_name)
        if adapter is None:
            raise NotFound(f"no channel {channel_name} on this gateway", code="channel_not_found")
        try:
            notification = adapter.parse_notification(body, content_type)
        except (ChannelError, ValueError) as invalid:
            log.warning("%s notification refused: %s", channel_name, invalid)
            return adapter.notification_ack(False)
        trade = notification.trade

        def find(tx: Tx) -> tuple[QrAttempt, Order] | None:
            attempt = qr_attempts.by_channel_order(tx, channel_name, trade.out_trade_no)
            return None if attempt is None else (attempt, _load(tx, attempt.order_id))

        found = await self._db.transaction(find)
        if found is None:
            log.warning("%s notification for unknown order %s refused", channel_name, trade.out_trade_no)
            return adapter.notification_ack(False)
        attempt, order = found
        if not _amount_matches(order, attempt, trade):
            return adapter.notification_ack(False)
        if trade.status in _PAID_AT_CHANNEL:
            await self._apply_paid(order, attempt, trade, f"channel:{channel_name}:notify")
        return adapter.notification_ack(True)  # other statuses change nothing: the sweep and expiry decide

    async def _apply_paid(self, order: Order, attempt: QrAttempt, trade: TradeResult, actor: str) -> None:
        """The channel says this attempt was paid: pay the order, or refund it when the order is closed or paid.

        A payment of another amount than the order's changes nothing. Applying the same payment again is a no-op.
        """
        if not _amount_matches(order, attempt, trade):
            return
        now = datetime.now(UTC)
        paid_at = trade.paid_at or now

        def apply(tx: Tx) -> tuple[bool, tuple[RefundReason, str] | None]:
            """(whether this applied the payment, the refund started for it if the order could not take it)."""
            claimed = _move_attempt(
                tx, attempt.id, _PAYABLE, A.PAID, channel_trade_no=trade.channel_trade_no, paid_at=paid_at
            )
            if not claimed:
                return False, None  # this payment was applied before (a duplicate or late notification, or a query)
            paid = transition(
                tx,
                order.id,
                OrderStatus.AWAITING_PAYMENT,
                OrderStatus.PAID,
                "the channel confirmed the payment",
                actor,
                {"channel": attempt.channel, "channel_status": trade.channel_status},
                channel=attempt.channel,
                channel_trade_no=trade.channel_trade_no,
                paid_at=paid_at,
            )
            if paid is None:
                return True, self._refund_extra_payment(tx, order.id, attempt, trade)
            self._fees.charge(tx, paid)
            jobs.finish(tx, QR_EXPIRY_JOB, order.id)
            # Other apps' attempts of an aggregate code are closed by the sweep from now on.
            self._continue_sweep(tx, order.id, 0)
            return True, None

        applied, extra = await self._db.transaction(apply)
        if not applied:
            return
        self._wake_worker()
        if extra is not None:
            reason, refund_id = extra
            log.warning(
                "order %s: %s payment via %s (%s, %d fen); refund %s started",
                order.id,
                reason,
                attempt.channel,
                trade.channel_trade_no,
                order.amount_fen,
                refund_id,
            )

    def _refund_extra_payment(
        self, tx: Tx, order_id: str, attempt: QrAttempt, trade: TradeResult
    ) -> tuple[RefundReason, str]:
        """A payment the order cannot take (closed, or paid through another app): give it back and tell the merchant."""
        order = _load(tx, order_id)
        reason = RefundReason.DUPLICATE_PAYMENT if order.status in _PAID_STATES else RefundReason.PAID_AFTER_CLOSE
        _move_attempt(tx, attempt.id, (A.PAID,), A.REFUNDED)  # claimed PAID in this transaction
        refund = self._refunds.start(
            tx,
            order,
            RefundOrder(
                channel=attempt.channel,
                channel_out_trade_no=attempt.channel_out_trade_no,
                channel_trade_no=trade.channel_trade_no,
                total_fen=order.amount_fen,
                amount_fen=order.amount_fen,
                reason=reason,
            ),
        )
        write_event(
            tx,
            order,
            f"order.{reason.value}",
            {
                **order_event_payload(order),
                "extra_payment": {
                    "channel": attempt.channel,
                    "channel_trade_no": trade.channel_trade_no,
                    "amount_fen": order.amount_fen,
                    "refund_id": refund.id,
                    "out_refund_no": refund.out_refund_no,
                },
            },
        )
        return reason, refund.id

    # ---- the sweep: queries for codes without news ---------------------------------------------------

    async def run_sweep(self, job: ClaimedJob) -> None:
        """Query every open attempt (a lost notification never leaves an order unpaid); once the order is final,
        close the attempts still open, and keep asking until each channel confirms it can no longer be paid."""
        order, open_attempts = await self._db.transaction(_with_open_attempts, job.order)
        if order.status is not OrderStatus.CREATED:  # CREATED: the precreate answer is on its way
            for attempt in open_attempts:
                awaiting = order.status is OrderStatus.AWAITING_PAYMENT
                result = await (self._query(attempt) if awaiting else self._close_attempt(attempt))
                await self._settle_attempt(order, attempt, result, f"gateway:sweep:{attempt.channel}")

        def next_round(tx: Tx) -> None:
            order = _load(tx, job.order)
            assert order.expires_at is not None
            give_up_at = order.expires_at + timedelta(seconds=GIVE_UP_AFTER_EXPIRY_S)
            if order.status is not OrderStatus.AWAITING_PAYMENT and datetime.now(UTC) >= give_up_at:
                log.error("order %s: channels never confirmed its open codes closed; reconcile by hand", order.id)
                jobs.finish(tx, QR_SWEEP_JOB, order.id)
            else:
                self._continue_sweep(tx, order.id, job.attempts + 1)

        await self._db.transaction(next_round)
        self._wake_worker()

    async def query_now(self, order_id: str) -> Order:
        """An order awaiting payment as its channels see it now (a terminal asks): each open attempt queried and
        settled as the sweep settles it; the sweep goes on as scheduled.
        """
        order, open_attempts = await self._db.transaction(_with_open_attempts, order_id)
        if order.status is OrderStatus.AWAITING_PAYMENT:
            for attempt in open_attempts:
                result = await self._query(attempt)
                await self._settle_attempt(order, attempt, result, f"gateway:query:{attempt.channel}")
        return await self.get(order_id)

    def _continue_sweep(self, tx: Tx, order_id: str, attempt: int) -> None:
        """Schedule the next sweep while an attempt is open, else end it."""
        if qr_attempts.count_in_status(tx, order_id, A.OPEN):
            due = datetime.now(UTC) + self._scaled(sweep_delay(attempt))
            jobs.schedule(tx, QR_SWEEP_JOB, order_id, due, attempts=attempt)
        else:
            jobs.finish(tx, QR_SWEEP_JOB, order_id)

    async def _query(self, attempt: QrAttempt) -> TradeResult | None:
        try:
            return await self._adapters[attempt.channel].query(attempt.channel_out_trade_no)
        except ChannelError as error:
            log.info("query of %s at %s failed: %s", attempt.channel_out_trade_no, attempt.channel, error.code)
            return None

    async def _close_attempt(self, attempt: QrAttempt) -> TradeResult | None:
        """Close the channel's order; when the channel does not confirm, its state as a query tells it (or None)."""
        try:
            await self._adapters[attempt.channel].close(attempt.channel_out_trade_no)
            return TradeResult(TradeStatus.CLOSED, attempt.channel_out_trade_no, channel_status="closed on request")
        except ChannelError as error:
            log.info("close of %s at %s: %s", attempt.channel_out_trade_no, attempt.channel, error.code)
        return await self._query(attempt)

    async def _settle_attempt(self, order: Order, attempt: QrAttempt, result: TradeResult | None, actor: str) -> None:
        """Apply what the channel said about an open attempt; without a definite answer it stays open."""
        if result is None:
            return
        assert order.expires_at is not None
        expired = datetime.now(UTC) >= order.expires_at  # the channel got the same expiry: nobody can pay now
        if result.status in _PAID_AT_CHANNEL:
            await self._apply_paid(order, attempt, result, actor)
        elif result.status in _CLOSED_AT_CHANNEL or (result.status in _UNPAID_AT_CHANNEL and expired):
            await self._db.transaction(_close_open_attempts, attempt_id=attempt.id)

    # ---- expiry and cancel ---------------------------------------------------------------------------

    async def run_expiry(self, job: ClaimedJob) -> None:
        """At the code's expiry: close it at the channels and locally."""
        order = await self.get(job.order)
        if order.status is OrderStatus.AWAITING_PAYMENT:
            await self._close(order, "the code expired", "gateway:expiry")
            return

        def expire(tx: Tx) -> None:
            if order.status is OrderStatus.CREATED:  # we stopped before the channel answered: no code was shown
                transition(
                    tx,
                    order.id,
                    OrderStatus.CREATED,
                    OrderStatus.FAILED,
                    "the code was never issued",
                    "gateway:expiry",
                    failure_code="code_not_issued",
                )
                self._continue_sweep(tx, order.id, 0)  # closes the channel order, if there is one
            jobs.finish(tx, QR_EXPIRY_JOB, order.id)

        await self._db.transaction(expire)
        self._wake_worker()

    async def cancel(self, terminal: TerminalContext, order_id: str) -> Order:
        """The terminal withdraws an unpaid code; a code paid meanwhile cannot be cancelled (409)."""
        order = await self._db.transaction(terminal_order, terminal.terminal_id, order_id)
        if order is None:
            raise NotFound(f"no payment {order_id} on this terminal", code="payment_not_found")
        if order.kind is not OrderKind.QR:
            raise Conflict("only a QR payment can be cancelled", code="not_a_qr_payment")
        if order.status is OrderStatus.AWAITING_PAYMENT:
            order = await self._close(order, "cancelled by the terminal", f"terminal:{terminal.terminal_id}")
        if order.status is OrderStatus.CREATED:
            raise Conflict("the code is still being created; try again", code="qr_code_being_created")
        if order.status in _PAID_STATES:
            raise Conflict(f"payment {order_id} is already paid", code="order_already_paid")
        return order

    async def _close(self, order: Order, cause: str, actor: str) -> Order:
        """Close the channel orders first, so a payment landing meanwhile is taken, not refunded; then locally."""
        for attempt in await self._db.transaction(qr_attempts.in_status, order.id, A.OPEN):
            result = await self._close_attempt(attempt)
            await self._settle_attempt(order, attempt, result, f"channel:{attempt.channel}")

        def close(tx: Tx) -> Order:
            closed = transition(tx, order.id, OrderStatus.AWAITING_PAYMENT, OrderStatus.CLOSED, cause, actor)
            jobs.finish(tx, QR_EXPIRY_JOB, order.id)
            # A channel that did not confirm the close is asked again; whatever it took meanwhile is refunded.
            self._continue_sweep(tx, order.id, 0)
            return closed or _load(tx, order.id)

        closed = await self._db.transaction(close)
        self._wake_worker()
        return closed

    # ---- helpers -------------------------------------------------------------------------------------

    def _scaled(self, seconds: float) -> timedelta:
        return timedelta(seconds=seconds * self._settings.time_scale)


def _load(tx: Tx, order_id: str) -> Order:
    order = orders.load_order(tx, order_id)
    if order is None:
        raise NotFound(f"no payment {order_id}", code="payment_not_found")
    return order


def _with_open_attempts(tx: Tx, order_id: str) -> tuple[Order, list[QrAttempt]]:
    return _load(tx, order_id), qr_attempts.in_status(tx, order_id, A.OPEN)


def _attempt_for_app(tx: Tx, order: Order, channel: Channel) -> QrAttempt:
    """The order's attempt at this channel; opening the code again in the same app reuses it.

    Every channel sees the order under our order id (its own numbering space), as for micropay.
    """
    now = datetime.now(UTC)
    qr_attempts.add_if_new(tx, order.id, channel, channel_order_no(order.id), A.OPEN, now)
    attempt = qr_attempts.of_channel(tx, order.id, channel)
    assert attempt is not None
    return attempt


def _move_attempt(
    tx: Tx, attempt_id: int, expected: Sequence[QrAttemptStatus], target: QrAttemptStatus, **fields: object
) -> bool:
    """Move the attempt from any of `expected` to `target` through the attempt machine (a repeat changes nothing)."""
    sources = [source for source in expected if QR_ATTEMPT_MACHINE.check(source, target)]
    return qr_attempts.compare_and_set(tx, attempt_id, sources, target, datetime.now(UTC), **fields)


def _close_open_attempts(tx: Tx, *, order_id: str | None = None, attempt_id: int | None = None) -> None:
    """OPEN -> CLOSED for one attempt, or for every open attempt of an order."""
    if not QR_ATTEMPT_MACHINE.check(A.OPEN, A.CLOSED):
        return
    now = datetime.now(UTC)
    if attempt_id is not None:
        qr_attempts.compare_and_set(tx, attempt_id, (A.OPEN,), A.CLOSED, now)
    if order_id is not None:
        qr_attempts.compare_and_set_of_order(tx, order_id, (A.OPEN,), A.CLOSED, now)


def _amount_matches(order: Order, attempt: QrAttempt, trade: TradeResult) -> bool:
    if trade.amount_fen == order.amount_fen:
        return True
    log.warning(
        "order %s: %s says %s fen for a %d fen order; ignored",
        order.id,
        attempt.channel,
        trade.amount_fen,
        order.amount_fen,
    )
    return False


def _duplicate(out_trade_no: str) -> Conflict:
    return Conflict(f"out_trade_no {out_trade_no} is already used", code="duplicate_out_trade_no")
