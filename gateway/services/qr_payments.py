"""C-scan-B payments: dynamic and aggregate codes, channel notifications, the sweep, expiry, cancel, extra payments."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
    QrAttemptStatus,
    parse_qr_channel,
    sweep_delay,
    validate_expiry,
)
from gateway.domain.refunds import RefundReason
from gateway.domain.useragent import classify_user_agent
from gateway.persistence.tables import Order, OrderTransition, QrAttempt
from gateway.services import jobs
from gateway.services.jobs import ClaimedJob
from gateway.services.payments import PaymentService, channel_order_no
from gateway.services.refunds import RefundOrder, RefundService
from gateway.services.terminals import TerminalContext
from gateway.services.transitions import new_order, order_event_payload, transition, write_event

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
        sessions: async_sessionmaker[AsyncSession],
        adapters: Mapping[str, ChannelAdapter],
        settings: Settings,
        payments: PaymentService,
        refunds: RefundService,
        pay_pages: Mapping[str, str],
        wake_worker: Callable[[], None],
    ) -> None:
        """`pay_pages`: per channel, the page a scanning app is sent to with `?code_url=` (the simulators' wallet)."""
        self._sessions = sessions
        self._adapters = adapters
        self._settings = settings
        self._payments = payments
        self._refunds = refunds
        self._pay_pages = pay_pages
        self._wake_worker = wake_worker

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

    async def create(self, terminal: TerminalContext, request: QrInput) -> Order:
        """A channel code (precreated at the channel now) or an aggregate code (at the first scan)."""
        channel = self.validate(terminal, request)
        now = datetime.now(UTC)
        expires_at = now + self._scaled(validate_expiry(request.expires_in_s))
        actor = f"terminal:{terminal.terminal_id}"
        order = new_order(
            terminal,
            out_trade_no=request.out_trade_no,
            kind=OrderKind.QR,
            channel=channel,
            amount_fen=request.amount_fen,
            status=OrderStatus.CREATED,
            description=request.description,
            now=now,
            expires_at=expires_at,
        )
        order.transitions = [
            OrderTransition(to_status=OrderStatus.CREATED, cause="QR code asked for", actor=actor, at=now)
        ]
        if channel is None:
            order.qr_token = secrets.token_urlsafe(16)
            order.code_url = self._settings.base_url + AGGREGATE_PATH.format(token=order.qr_token)
            order.status = OrderStatus.AWAITING_PAYMENT
            order.transitions.append(
                OrderTransition(
                    from_status=OrderStatus.CREATED,
                    to_status=OrderStatus.AWAITING_PAYMENT,
                    cause="aggregate code issued",
                    actor=actor,
                    at=now,
                    detail={"expires_at": expires_at.isoformat()},
                )
            )
        try:
            async with self._sessions.begin() as session:
                await _refuse_duplicate(session, terminal.merchant_id, request.out_trade_no)
                await self._payments.check_daily_limit(session, terminal, request.amount_fen, now)
                session.add(order)
                await session.flush()
                if channel is not None:
                    session.add(_new_attempt(order.id, channel, now))
                # Written with the order: whatever happens to this process, the code is closed at its expiry.
                await jobs.schedule(session, QR_EXPIRY_JOB, order.id, expires_at)
        except IntegrityError:
            async with self._sessions() as session:  # a concurrent request took the out_trade_no: say so
                await _refuse_duplicate(session, terminal.merchant_id, request.out_trade_no)
            raise
        if channel is not None:
            attempt = await self._attempt(order.id, channel)
            try:
                await self._precreate(order, attempt)
            except ChannelError as error:
                await self._fail_creation(order, error)
        return await self.get(order.id)

    async def _precreate(self, order: Order, attempt: QrAttempt) -> str:
        """Create the channel's order for this attempt (a repeat is harmless: same number, same parameters)."""
        assert order.expires_at is not None
        result = await self._adapters[attempt.channel].precreate(
            PrecreateRequest(
                out_trade_no=attempt.channel_out_trade_no,
                amount_fen=order.amount_fen,
                description=order.description or "payment",
                notify_url=self._settings.base_url + NOTIFY_PATH.format(channel=attempt.channel),
                expires_at=order.expires_at,
                terminal_id=order.terminal_id,
            )
        )
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            await session.execute(
                update(QrAttempt).where(QrAttempt.id == attempt.id).values(code_url=result.code_url, updated_at=now)
            )
            await transition(
                session,
                order.id,
                OrderStatus.CREATED,
                OrderStatus.AWAITING_PAYMENT,
                "precreate accepted by the channel",
                f"channel:{attempt.channel}",
                {"channel": attempt.channel, "expires_at": order.expires_at.isoformat()},
                code_url=result.code_url,
            )
            await jobs.schedule(session, QR_SWEEP_JOB, order.id, now + self._scaled(sweep_delay(0)))
        self._wake_worker()
        return result.code_url

    async def _fail_creation(self, order: Order, error: ChannelError) -> None:
        """No code was shown to anybody, so nobody can pay it: the order fails and its attempt is closed."""
        code = "channel_rejected_request" if isinstance(error, DefiniteFailure) else "channel_unavailable"
        async with self._sessions.begin() as session:
            await transition(
                session,
                order.id,
                OrderStatus.CREATED,
                OrderStatus.FAILED,
                "the channel did not issue a code",
                f"channel:{order.channel}",
                {"channel_code": error.code},
                failure_code=code,
                failure_detail=str(error)[:256],
            )
            await _close_open_attempts(session, QrAttempt.order_id == order.id)
            await jobs.finish(session, QR_EXPIRY_JOB, order.id)

    async def get(self, order_id: str) -> Order:
        async with self._sessions() as session:
            order = await session.get(Order, order_id)
        if order is None:
            raise NotFound(f"no payment {order_id}", code="payment_not_found")
        return order

    # ---- the aggregate code --------------------------------------------------------------------------

    async def open_aggregate(self, token: str, user_agent: str | None) -> AggregateLanding:
        """Someone opened /q/{token}: send a wallet app to its channel's payment; anyone else gets told what to do.

        Raises ChannelError when the scanning app's channel cannot create its order right now.
        """
        async with self._sessions() as session:
            order = await session.scalar(select(Order).where(Order.qr_token == token))
        if order is None:
            raise NotFound("no such payment code", code="qr_code_not_found")
        if order.status in _PAID_STATES:
            return AggregateLanding(LandingKind.PAID, order)
        assert order.expires_at is not None
        if order.status is not OrderStatus.AWAITING_PAYMENT or datetime.now(UTC) >= order.expires_at:
            return AggregateLanding(LandingKind.CLOSED, order)
        app = classify_user_agent(user_agent)
        configured = tuple(channel for channel in Channel if channel in self._adapters)
        if app is None or app.channel not in self._adapters:
            return AggregateLanding(LandingKind.CHOOSE_APP, order, channels=configured)
        attempt = await self._attempt_for_app(order, app.channel)
        code_url = attempt.code_url or await self._precreate(order, attempt)
        page = self._pay_pages.get(app.channel)
        pay_url = f"{page}?{urlencode({'code_url': code_url})}" if page else code_url
        return AggregateLanding(LandingKind.PAY, order, pay_url=pay_url, channels=configured)

    async def _attempt_for_app(self, order: Order, channel: Channel) -> QrAttempt:
        """The order's attempt at this channel; opening the code again in the same app reuses it."""
        try:
            async with self._sessions.begin() as session:
                session.add(_new_attempt(order.id, channel, datetime.now(UTC)))
        except IntegrityError:
            pass  # this app opened the code before
        return await self._attempt(order.id, channel)

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
        async with self._sessions() as session:
            attempt = await session.scalar(
                select(QrAttempt).where(
                    QrAttempt.channel == channel_name, QrAttempt.channel_out_trade_no == trade.out_trade_no
                )
            )
        if attempt is None:
            log.warning("%s notification for unknown order %s refused", channel_name, trade.out_trade_no)
            return adapter.notification_ack(False)
        if not _amount_matches(await self.get(attempt.order_id), attempt, trade):
            return adapter.notification_ack(False)
        if trade.status in _PAID_AT_CHANNEL:
            await self._apply_paid(attempt, trade, f"channel:{channel_name}:notify")
        return adapter.notification_ack(True)  # other statuses change nothing: the sweep and expiry decide

    async def _apply_paid(self, attempt: QrAttempt, trade: TradeResult, actor: str) -> None:
        """The channel says this attempt was paid: pay the order, or refund it when the order is closed or paid.

        A payment of another amount than the order's changes nothing. Applying the same payment again is a no-op.
        """
        order = await self.get(attempt.order_id)
        if not _amount_matches(order, attempt, trade):
            return
        now = datetime.now(UTC)
        paid_at = trade.paid_at or now
        extra: tuple[RefundReason, str] | None = None
        async with self._sessions.begin() as session:
            claimed = await session.execute(
                update(QrAttempt)
                .where(
                    QrAttempt.id == attempt.id,
                    QrAttempt.status.in_((QrAttemptStatus.OPEN, QrAttemptStatus.CLOSED)),
                )
                .values(
                    status=QrAttemptStatus.PAID,
                    channel_trade_no=trade.channel_trade_no,
                    paid_at=paid_at,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return  # this payment was applied before (a duplicate or late notification, or a query)
            paid = await transition(
                session,
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
            if paid is not None:
                await jobs.finish(session, QR_EXPIRY_JOB, order.id)
                # Other apps' attempts of an aggregate code are closed by the sweep from now on.
                await self._continue_sweep(session, order.id, 0)
            else:
                extra = await self._refund_extra_payment(session, order.id, attempt, trade)
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

    async def _refund_extra_payment(
        self, session: AsyncSession, order_id: str, attempt: QrAttempt, trade: TradeResult
    ) -> tuple[RefundReason, str]:
        """A payment the order cannot take (closed, or paid through another app): give it back and tell the merchant."""
        order = await session.scalar(
            select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
        )
        assert order is not None
        reason = RefundReason.DUPLICATE_PAYMENT if order.status in _PAID_STATES else RefundReason.PAID_AFTER_CLOSE
        await session.execute(
            update(QrAttempt)
            .where(QrAttempt.id == attempt.id)
            .values(status=QrAttemptStatus.REFUNDED)
            .execution_options(synchronize_session=False)
        )
        refund = await self._refunds.start(
            session,
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
        await write_event(
            session,
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
        order = await self.get(job.order_id)
        if order.status is not OrderStatus.CREATED:  # CREATED: the precreate answer is on its way
            for attempt in await self._attempts(order.id, QrAttemptStatus.OPEN):
                awaiting = order.status is OrderStatus.AWAITING_PAYMENT
                result = await (self._query(attempt) if awaiting else self._close_attempt(attempt))
                await self._settle_attempt(order, attempt, result, f"gateway:sweep:{attempt.channel}")
        order = await self.get(job.order_id)
        async with self._sessions.begin() as session:
            assert order.expires_at is not None
            give_up_at = order.expires_at + timedelta(seconds=GIVE_UP_AFTER_EXPIRY_S)
            if order.status is not OrderStatus.AWAITING_PAYMENT and datetime.now(UTC) >= give_up_at:
                log.error("order %s: channels never confirmed its open codes closed; reconcile by hand", order.id)
                await jobs.finish(session, QR_SWEEP_JOB, order.id)
            else:
                await self._continue_sweep(session, order.id, job.attempts + 1)
        self._wake_worker()

    async def _continue_sweep(self, session: AsyncSession, order_id: str, attempt: int) -> None:
        """Schedule the next sweep while an attempt is open, else end it."""
        open_attempts = await session.scalar(
            select(func.count())
            .select_from(QrAttempt)
            .where(QrAttempt.order_id == order_id, QrAttempt.status == QrAttemptStatus.OPEN)
        )
        if open_attempts:
            due = datetime.now(UTC) + self._scaled(sweep_delay(attempt))
            await jobs.schedule(session, QR_SWEEP_JOB, order_id, due, attempts=attempt)
        else:
            await jobs.finish(session, QR_SWEEP_JOB, order_id)

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
            await self._apply_paid(attempt, result, actor)
        elif result.status in _CLOSED_AT_CHANNEL or (result.status in _UNPAID_AT_CHANNEL and expired):
            async with self._sessions.begin() as session:
                await _close_open_attempts(session, QrAttempt.id == attempt.id)

    # ---- expiry and cancel ---------------------------------------------------------------------------

    async def run_expiry(self, job: ClaimedJob) -> None:
        """At the code's expiry: close it at the channels and locally."""
        order = await self.get(job.order_id)
        if order.status is OrderStatus.AWAITING_PAYMENT:
            await self._close(order, "the code expired", "gateway:expiry")
            return
        async with self._sessions.begin() as session:
            if order.status is OrderStatus.CREATED:  # we stopped before the channel answered: no code was shown
                await transition(
                    session,
                    order.id,
                    OrderStatus.CREATED,
                    OrderStatus.FAILED,
                    "the code was never issued",
                    "gateway:expiry",
                    failure_code="code_not_issued",
                )
                await self._continue_sweep(session, order.id, 0)  # closes the channel order, if there is one
            await jobs.finish(session, QR_EXPIRY_JOB, order.id)
        self._wake_worker()

    async def cancel(self, terminal: TerminalContext, order_id: str) -> Order:
        """The terminal withdraws an unpaid code; a code paid meanwhile cannot be cancelled (409)."""
        async with self._sessions() as session:
            order = await session.scalar(
                select(Order).where(Order.id == order_id, Order.terminal_id == terminal.terminal_id)
            )
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
        for attempt in await self._attempts(order.id, QrAttemptStatus.OPEN):
            result = await self._close_attempt(attempt)
            await self._settle_attempt(order, attempt, result, f"channel:{attempt.channel}")
        async with self._sessions.begin() as session:
            await transition(session, order.id, OrderStatus.AWAITING_PAYMENT, OrderStatus.CLOSED, cause, actor)
            await jobs.finish(session, QR_EXPIRY_JOB, order.id)
            # A channel that did not confirm the close is asked again; whatever it took meanwhile is refunded.
            await self._continue_sweep(session, order.id, 0)
        self._wake_worker()
        return await self.get(order.id)

    # ---- helpers -------------------------------------------------------------------------------------

    async def _attempt(self, order_id: str, channel: Channel) -> QrAttempt:
        async with self._sessions() as session:
            attempt = await session.scalar(
                select(QrAttempt).where(QrAttempt.order_id == order_id, QrAttempt.channel == channel)
            )
        assert attempt is not None
        return attempt

    async def _attempts(self, order_id: str, status: QrAttemptStatus) -> list[QrAttempt]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(QrAttempt)
                .where(QrAttempt.order_id == order_id, QrAttempt.status == status)
                .order_by(QrAttempt.id)
            )
            return list(rows.all())

    def _scaled(self, seconds: float) -> timedelta:
        return timedelta(seconds=seconds * self._settings.time_scale)


def _new_attempt(order_id: str, channel: Channel, now: datetime) -> QrAttempt:
    """Every channel sees the order under our order id (its own numbering space), as for micropay."""
    return QrAttempt(
        order_id=order_id,
        channel=channel,
        channel_out_trade_no=channel_order_no(order_id),
        status=QrAttemptStatus.OPEN,
        created_at=now,
        updated_at=now,
    )


async def _close_open_attempts(session: AsyncSession, *which: ColumnElement[bool]) -> None:
    await session.execute(
        update(QrAttempt)
        .where(QrAttempt.status == QrAttemptStatus.OPEN, *which)
        .values(status=QrAttemptStatus.CLOSED, updated_at=datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )


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


async def _refuse_duplicate(session: AsyncSession, merchant_id: str, out_trade_no: str) -> None:
    taken = await session.scalar(
        select(Order.id).where(Order.merchant_id == merchant_id, Order.out_trade_no == out_trade_no)
    )
    if taken is not None:
        raise Conflict(f"out_trade_no {out_trade_no} is already used", code="duplicate_out_trade_no")
