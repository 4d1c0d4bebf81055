"""Refunds at the channels: automatic ones (extra payments) and the ones terminals and merchants ask for, each
recorded with its job in the transaction that decides it, sent, and followed up by the job until final."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from adapters.protocol import (
    ChannelAdapter,
    ChannelError,
    DefiniteFailure,
    NotificationAck,
    OrderNotFound,
    RefundRejected,
    RefundRequest,
    RequestRejected,
)
from adapters.protocol import RefundStatus as ChannelRefundStatus
from gateway.config import Settings
from gateway.domain.channels import Channel
from gateway.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from gateway.domain.ids import new_id
from gateway.domain.money import validate_amount
from gateway.domain.orders import OrderStatus
from gateway.domain.refunds import (
    MAX_REFUNDS_PER_ORDER,
    REFUND_MACHINE,
    REFUND_WINDOW_DAYS,
    REFUNDABLE,
    RefundReason,
    RefundStatus,
    check_refund_window,
    check_voidable,
    not_refundable,
    refusal,
    round_delay_s,
    void_by_reverse,
)
from gateway.persistence import batches, jobs, operators
from gateway.persistence import refunds as repo
from gateway.persistence.batches import number_transaction
from gateway.persistence.database import Database, Tx
from gateway.persistence.jobs import ClaimedJob
from gateway.persistence.orders import load_order
from gateway.persistence.refunds import RefundFilter
from gateway.persistence.tables import Operator, Order, Refund
from gateway.services.fees import FeeSchedule
from gateway.services.operators import OperatorRole
from gateway.services.orders import decode_cursor, encode_cursor
from gateway.services.payments import channel_order_no
from gateway.services.terminals import TerminalContext, require_operator_if_needed
from gateway.services.transitions import order_event_payload, transition, write_event

__all__ = ["RefundFilter", "RefundService"]

log = logging.getLogger(__name__)

REFUND_JOB = "refund_follow_up"
#: The path the channels announce a refund's end to (WeChat's encrypted refund notification).
REFUND_NOTIFY_PATH = "/v1/notify/{channel}/refund"
#: No cap on the number of refunds of an order (channels not in MAX_REFUNDS_PER_ORDER).
_UNCAPPED = 2**31 - 1

_FROM_CHANNEL = {
    ChannelRefundStatus.SUCCESS: RefundStatus.SUCCEEDED,
    ChannelRefundStatus.PROCESSING: RefundStatus.PROCESSING,
    ChannelRefundStatus.FAILED: RefundStatus.FAILED,
}
#: Definite refusals of a refund, as the failure_code the refund shows.
_FAILURE_CODES: tuple[tuple[type[ChannelError], str], ...] = (
    (RefundRejected, "refund_rejected"),
    (OrderNotFound, "channel_trade_not_found"),
    (RequestRejected, "channel_rejected_request"),
)
#: A refund the channel accepted and later reported failed (query or notification).
FAILED_AT_CHANNEL = "refund_failed_at_channel"

#: Checks a supervisor's number and password for a merchant: the supervisor, or a 403 (Forbidden).
SupervisorCheck = Callable[[str, str, str], Awaitable[Operator]]


@dataclass(frozen=True)
class RefundOrder:
    """What to refund automatically: a trade at a channel, how much it paid and how much goes back."""

    channel: Channel
    channel_out_trade_no: str
    channel_trade_no: str | None
    total_fen: int
    amount_fen: int
    reason: RefundReason


@dataclass(frozen=True)
class RefundAsk:
    """A refund a terminal or the merchant asks for: of `amount_fen` of the order, under their own number. A
    terminal may name its payment by reference number (参考号) instead of order id."""

    order_id: str | None
    amount_fen: int
    out_refund_no: str
    reason: str | None = None
    reference_no: str | None = None


@dataclass(frozen=True)
class Supervisor:
    """The number and password of the supervisor approving a terminal's refund."""

    number: str
    password: str


@dataclass(frozen=True)
class Requester:
    """Who asks: the merchant (API key), or one of its terminals with the operator signed in on it."""

    merchant_id: str
    terminal: TerminalContext | None = None
    supervisor: Supervisor | None = None

    @classmethod
    def of_terminal(cls, terminal: TerminalContext, supervisor: Supervisor | None) -> Requester:
        return cls(terminal.merchant_id, terminal, supervisor)


@dataclass(frozen=True)
class Requested:
    """The refund a request made, or found when it repeats an earlier one (`replayed`)."""

    refund: Refund
    replayed: bool = False


@dataclass(frozen=True)
class RefundPage:
    items: list[Refund]
    next_cursor: str | None


@dataclass(frozen=True)
class OrderRefunds:
    order: Order
    refunds: list[Refund]


def refund_event_payload(refund: Refund, order: Order) -> dict[str, Any]:
    """What terminals and merchants are told about a refund, with its order as it stands after it."""
    return {
        "refund_id": refund.id,
        "order_id": refund.order_id,
        "channel": refund.channel,
        "out_refund_no": refund.merchant_refund_no,
        "channel_out_refund_no": refund.out_refund_no,
        "amount_fen": refund.amount_fen,
        "kind": refund.reason,
        "reason": refund.description,
        "status": refund.status.shown,
        "channel_refund_no": refund.channel_refund_no,
        "operator_id": refund.operator_id,
        "failure_code": refund.failure_code,
        "failure_detail": refund.failure_detail,
        "order": order_event_payload(order),
    }


class RefundService:
    """Starts refunds (inside a caller's transaction, or asked for by terminals and merchants) and drives them to
    SUCCEEDED or FAILED: the channel's answer, then the job worker's queries and the channel's notifications."""

    def __init__(
        self,
        db: Database,
        adapters: Mapping[str, ChannelAdapter],
        settings: Settings,
        verify_supervisor: SupervisorCheck,
    ) -> None:
        self._db = db
        self._adapters = adapters
        self._settings = settings
        self._verify_supervisor = verify_supervisor
        self._fees = FeeSchedule(settings)
        self._window_days = {**REFUND_WINDOW_DAYS, Channel.UNIONPAY: settings.unionpay_refund_window_days}

    # ---- automatic refunds ---------------------------------------------------------------------------

    def start(self, tx: Tx, order: Order, what: RefundOrder) -> Refund:
        """Record the refund and its job in the caller's transaction; the caller wakes the job worker after it."""
        REFUND_MACHINE.creation_path(RefundStatus.PENDING)
        now = datetime.now(UTC)
        refund = self._new_refund(order, what.channel, what.amount_fen, what.reason, now)
        refund.channel_out_trade_no = what.channel_out_trade_no
        refund.channel_trade_no = what.channel_trade_no
        refund.total_fen = what.total_fen
        repo.add_refund(tx, refund)
        jobs.schedule(tx, REFUND_JOB, order.id, now)
        return refund

    # ---- requested refunds ---------------------------------------------------------------------------

    async def request(self, who: Requester, ask: RefundAsk) -> Requested:
        """Refund part or all of a paid order, once per `out_refund_no`; a repeat with the same order, amount and
        reason is the first refund again, with anything else 422 `out_refund_no_reused`.

        Every rule is checked, the amount reserved on the order, the refund and its job written, in one
        transaction before the channel is called: a refused request writes nothing, and a crash during the call
        leaves the job to send the refund again under the same number (the channel refunds it once).
        """
        validate_amount(ask.amount_fen, self._settings.max_amount_fen)
        supervisor_id: str | None = None
        if who.terminal is not None:
            require_operator_if_needed(who.terminal)
            if ask.order_id is None:
                ask = replace(ask, order_id=await self._payment_by_reference(who.terminal, ask.reference_no))
            if who.supervisor is not None:
                approved = await self._verify_supervisor(
                    who.merchant_id, who.supervisor.number, who.supervisor.password
                )
                supervisor_id = approved.id
        now = datetime.now(UTC)

        def create(tx: Tx) -> Requested:
            assert ask.order_id is not None
            order = self._order_of(tx, who, ask.order_id)  # a terminal is told only of its own payments' refunds
            existing = repo.by_merchant_number(tx, who.merchant_id, ask.out_refund_no)
            if existing is not None:
                return Requested(_same_request(existing, ask), replayed=True)
            if who.terminal is not None and supervisor_id is None and repo.requires_supervisor(tx, who.merchant_id):
                raise Forbidden(
                    "this merchant's terminal refunds need a supervisor's number and password",
                    code="supervisor_required",
                )
            if order.status not in REFUNDABLE:
                raise not_refundable(order.status)
            assert order.channel is not None and order.paid_at is not None  # a paid order has both
            if order.channel not in self._adapters:
                raise InvalidInput(f"{order.channel} is not configured on this gateway", code="channel_not_configured")
            check_refund_window(order.channel, order.paid_at, now, self._window_days[order.channel])
            cap = MAX_REFUNDS_PER_ORDER.get(order.channel, _UNCAPPED)
            if not repo.reserve(tx, order.id, ask.amount_fen, cap):
                fresh = load_order(tx, order.id)
                assert fresh is not None
                raise refusal(
                    fresh.status, fresh.refund_reserved_fen, fresh.amount_fen, fresh.refund_count, ask.amount_fen, cap
                )
            refund = self._new_refund(order, order.channel, ask.amount_fen, RefundReason.REQUESTED, now)
            refund.merchant_refund_no = ask.out_refund_no
            refund.description = ask.reason
            self._add_with_job(tx, refund, who.terminal, supervisor_id, now)
            return Requested(refund)

        try:
            requested = await self._db.transaction(create)
        except IntegrityError:
            # A concurrent request with the same out_refund_no committed first (PostgreSQL): this is its repeat.
            requested = await self._db.transaction(self._repeat_of, who.merchant_id, ask)
        return await self._send_new(requested)

    async def void(self, terminal: TerminalContext, order_id: str, supervisor: Supervisor | None) -> Requested:
        """Void (撤销) a payment of the terminal's open batch: all of it, approved by a supervisor (`supervisor`, or
        the operator signed in when that is a supervisor). A micropay is reversed (WeChat reverse, Alipay cancel,
        UnionPay same-day cancel) while its channel still does that, anything else refunded in full; the void is a
        transaction of its own (kind `void`, its own voucher number) and the order ends VOIDED when it succeeds.

        Repeating the void of a payment being voided, or voided, answers that void again. The full amount is
        reserved like a refund's, so of a void and a refund of one payment at once exactly one is accepted.
        """
        require_operator_if_needed(terminal)
        supervisor_id = None
        if supervisor is not None:
            approved = await self._verify_supervisor(terminal.merchant_id, supervisor.number, supervisor.password)
            supervisor_id = approved.id
        now = datetime.now(UTC)

        def create(tx: Tx) -> Requested:
            order = self._order_of(tx, Requester(terminal.merchant_id, terminal), order_id)
            earlier = repo.live_void(tx, order.id)
            if earlier is not None:
                return Requested(earlier, replayed=True)
            approver = supervisor_id or _signed_in_supervisor(tx, terminal)
            check_voidable(order.id, order.status, order.batch_no, batches.open_batch_no(tx, terminal.terminal_id))
            assert order.channel is not None and order.paid_at is not None  # a paid order has both
            if order.channel not in self._adapters:
                raise InvalidInput(f"{order.channel} is not configured on this gateway", code="channel_not_configured")
            if not repo.reserve(tx, order.id, order.amount_fen, _UNCAPPED):
                concurrent = repo.live_void(tx, order.id)  # a void of the same payment committed first
                if concurrent is not None:
                    return Requested(concurrent, replayed=True)
                raise Conflict(
                    "a refund of this payment is under way or done, so it can no longer be voided; refund the rest",
                    code="order_not_voidable",
                )
            refund = self._new_refund(order, order.channel, order.amount_fen, RefundReason.VOID, now)
            refund.via_reverse = void_by_reverse(order.kind, order.channel, order.paid_at, now)
            self._add_with_job(tx, refund, terminal, approver, now)
            return Requested(refund)

        return await self._send_new(await self._db.transaction(create))

    def _add_with_job(
        self, tx: Tx, refund: Refund, terminal: TerminalContext | None, supervisor_id: str | None, now: datetime
    ) -> None:
        """Write a new refund or void (numbered when a terminal asked) with the job that finishes it."""
        REFUND_MACHINE.creation_path(RefundStatus.PENDING)
        if terminal is not None:
            refund.terminal_id = terminal.terminal_id
            refund.operator_id = terminal.operator_id
            number_transaction(tx, refund)  # a terminal's refund or void is one of its transactions
        refund.supervisor_id = supervisor_id
        repo.add_refund(tx, refund)
        # Written with the refund: if we die during the channel call, the worker sends it again from here.
        first_round = timedelta(seconds=self._settings.channel_timeout_s) + self._round_delay({refund.channel}, 0)
        jobs.schedule(tx, REFUND_JOB, refund.order_id, now + first_round)

    async def _send_new(self, requested: Requested) -> Requested:
        """Send a refund just written, once, and answer it as it stands; a repeat is answered as it is."""
        if requested.replayed:
            return requested
        await self._advance(requested.refund)
        return Requested(await self._db.transaction(_require_refund, requested.refund.id))

    async def _payment_by_reference(self, terminal: TerminalContext, reference_no: str | None) -> str:
        assert reference_no is not None, "a refund names its payment by order id or reference number"
        order = await self._db.transaction(batches.order_by_reference, terminal.terminal_id, reference_no)
        if order is None:
            missing = f"no payment with reference number {reference_no} on this terminal"
            raise NotFound(missing, code="payment_not_found")
        return order.id

    def _repeat_of(self, tx: Tx, merchant_id: str, ask: RefundAsk) -> Requested:
        existing = repo.by_merchant_number(tx, merchant_id, ask.out_refund_no)
        if existing is None:
            raise AssertionError(f"refund {ask.out_refund_no} clashed with a refund that does not exist")
        return Requested(_same_request(existing, ask), replayed=True)

    def _order_of(self, tx: Tx, who: Requester, order_id: str) -> Order:
        """The order a requester may refund: a terminal its own payments, the merchant any of its orders."""
        order = load_order(tx, order_id)
        if who.terminal is not None:
            if order is None or order.terminal_id != who.terminal.terminal_id:
                raise NotFound(f"no payment {order_id} on this terminal", code="payment_not_found")
        elif order is None or order.merchant_id != who.merchant_id:
            raise NotFound(f"no order {order_id}", code="order_not_found")
        return order

    def _new_refund(
        self, order: Order, channel: Channel, amount_fen: int, reason: RefundReason, now: datetime
    ) -> Refund:
        refund_id = new_id("rfd")
        return Refund(
            id=refund_id,
            order_id=order.id,
            merchant_id=order.merchant_id,
            channel=channel,
            channel_out_trade_no=channel_order_no(order.id),
            channel_trade_no=order.channel_trade_no,
            out_refund_no=refund_id.replace("_", ""),  # letters and digits: every channel accepts it
            total_fen=order.amount_fen,
            amount_fen=amount_fen,
            reason=reason,
            status=RefundStatus.PENDING,
            created_at=now,
            updated_at=now,
        )

    # ---- looking refunds up --------------------------------------------------------------------------

    async def for_terminal(self, terminal_id: str, refund_id: str) -> Refund:
        """A refund of one of the terminal's payments (another terminal's does not exist for this one)."""

        def find(tx: Tx) -> Refund | None:
            refund = repo.get_refund(tx, refund_id)
            order = None if refund is None else load_order(tx, refund.order_id)
            return refund if order is not None and order.terminal_id == terminal_id else None

        return _found(await self._db.transaction(find), refund_id)

    async def for_merchant(self, merchant_id: str, refund_id: str) -> Refund:
        refund = await self._db.transaction(repo.get_refund, refund_id)
        return _found(refund if refund is not None and refund.merchant_id == merchant_id else None, refund_id)

    async def of_order(self, merchant_id: str, order_id: str) -> OrderRefunds:
        """The order's refunds, oldest first, with the order (what was paid, refunded and is left)."""

        def find(tx: Tx) -> OrderRefunds:
            # The refunds first: a refund read final has its order's change committed with it (each statement of
            # a PostgreSQL transaction sees what was committed when it began), so the order then read shows it.
            refunds = repo.of_order(tx, order_id)
            order = load_order(tx, order_id)
            if order is None or order.merchant_id != merchant_id:
                raise NotFound(f"no order {order_id}", code="order_not_found")
            return OrderRefunds(order, refunds)

        return await self._db.transaction(find)

    async def list_refunds(self, merchant_id: str, filters: RefundFilter, limit: int, cursor: str | None) -> RefundPage:
        """The merchant's refunds, newest first; the cursor continues after the last one of the previous page."""
        after = None if cursor is None else decode_cursor(cursor)
        rows = await self._db.transaction(repo.merchant_refunds, merchant_id, filters, limit + 1, after)
        items = rows[:limit]
        return RefundPage(items, encode_cursor(items[-1]) if len(rows) > limit else None)

    async def set_requires_supervisor(self, merchant_id: str, required: bool) -> None:
        """Whether the merchant's terminal refunds need a supervisor's number and password."""
        if not await self._db.transaction(repo.set_requires_supervisor, merchant_id, required):
            raise NotFound(f"no merchant {merchant_id}", code="merchant_not_found")

    # ---- following refunds up ------------------------------------------------------------------------

    async def run(self, job: ClaimedJob) -> None:
        """One round over the order's unfinished refunds; again later while any is unfinished."""
        unfinished = await self._db.transaction(repo.unfinished, job.order)
        for refund in unfinished:
            await self._advance(refund)

        def reschedule(tx: Tx) -> None:
            # With the order locked, a refund being created for it commits before this looks, or schedules the job
            # after this ends it: never a refund left without its job.
            repo.lock_order(tx, job.order)
            still_open = repo.unfinished(tx, job.order)
            if still_open:
                delay = self._round_delay({refund.channel for refund in still_open}, job.attempts)
                jobs.schedule(tx, REFUND_JOB, job.order, datetime.now(UTC) + delay, attempts=job.attempts + 1)
            else:
                jobs.finish(tx, REFUND_JOB, job.order)

        await self._db.transaction(reschedule)

    async def handle_notification(self, channel_name: str, body: bytes, content_type: str | None) -> NotificationAck:
        """A channel's refund notification: verified (WeChat: decrypted), matched with its refund and applied once;
        answered with the channel's own acknowledgement, or its failure when it is not ours or does not match."""
        adapter = self._adapters.get(channel_name)
        if adapter is None:
            raise NotFound(f"no channel {channel_name} on this gateway", code="channel_not_found")
        try:
            notification = adapter.parse_refund_notification(body, content_type)
        except (ChannelError, ValueError) as invalid:
            log.warning("%s refund notification refused: %s", channel_name, invalid)
            return adapter.notification_ack(False)
        refund = await self._db.transaction(repo.by_channel_number, notification.out_refund_no)
        if (
            refund is None
            or refund.channel != channel_name
            or refund.channel_out_trade_no != notification.out_trade_no
            or refund.amount_fen != notification.refund_fen
        ):
            log.warning(
                "%s refund notification for %s does not match a refund", channel_name, notification.out_refund_no
            )
            return adapter.notification_ack(False)
        status = _FROM_CHANNEL[notification.status]
        if status.is_final:
            failure = (FAILED_AT_CHANNEL, "the channel's refund notification says it failed")
            await self._record(
                refund,
                status,
                notification.channel_refund_no,
                *(failure if status is RefundStatus.FAILED else (None, None)),
            )
        return adapter.notification_ack(True)

    async def _advance(self, refund: Refund) -> bool:
        """Send or query the refund once; True when it is final."""
        adapter = self._adapters[refund.channel]
        if refund.via_reverse:
            return await self._advance_reverse(refund, adapter)
        try:
            if refund.status is RefundStatus.PENDING:
                result = await adapter.refund(
                    RefundRequest(
                        out_trade_no=refund.channel_out_trade_no,
                        out_refund_no=refund.out_refund_no,
                        total_fen=refund.total_fen,
                        refund_fen=refund.amount_fen,
                        reason=refund.description or refund.reason.value,
                        channel_trade_no=refund.channel_trade_no,
                        notify_url=self._settings.base_url + REFUND_NOTIFY_PATH.format(channel=refund.channel),
                    )
                )
            else:
                result = await adapter.refund_query(refund.channel_out_trade_no, refund.out_refund_no)
        except OrderNotFound as missing:
            if refund.status is RefundStatus.PROCESSING:  # accepted once, unknown now: send it again, same number
                return await self._record(refund, RefundStatus.PENDING, None, None, None)
            return await self._record(refund, RefundStatus.FAILED, None, "channel_trade_not_found", str(missing)[:256])
        except DefiniteFailure as refused:
            code = next((name for kind, name in _FAILURE_CODES if isinstance(refused, kind)), "channel_failure")
            return await self._record(refund, RefundStatus.FAILED, None, code, str(refused)[:256])
        except ChannelError as unknown:
            log.info("refund %s: no answer from %s (%s); trying again", refund.id, refund.channel, unknown.code)
            return False
        status = _FROM_CHANNEL[result.status]
        failure = (
            (FAILED_AT_CHANNEL, "the channel says the refund failed") if status is RefundStatus.FAILED else (None, None)
        )
        return await self._record(refund, status, result.channel_refund_no, *failure)

    async def _advance_reverse(self, refund: Refund, adapter: ChannelAdapter) -> bool:
        """A void sent as the channel's reverse/cancel of the micropay: repeated (it is idempotent at the channel)
        until the channel says it is done; True when it is final."""
        try:
            outcome = await adapter.reverse(refund.channel_out_trade_no)
        except DefiniteFailure as refused:
            code = "channel_trade_not_found" if isinstance(refused, OrderNotFound) else "reverse_refused"
            return await self._record(refund, RefundStatus.FAILED, None, code, str(refused)[:256])
        except ChannelError as unknown:
            log.info("void %s: no answer from %s (%s); trying again", refund.id, refund.channel, unknown.code)
            return False
        if outcome.retry:
            return False  # the channel asks to be called again: the next round does
        return await self._record(refund, RefundStatus.SUCCEEDED, None, None, None)

    async def _record(
        self,
        refund: Refund,
        status: RefundStatus,
        channel_refund_no: str | None,
        failure_code: str | None,
        failure_detail: str | None,
    ) -> bool:
        """Apply what the channel said through the refund machine; a final state settles the order and is told."""
        if status is refund.status:
            return status.is_final
        now = datetime.now(UTC)

        def record(tx: Tx) -> bool | None:
            """Whether the refund is final now; None when it already was (nothing changed, nothing to tell)."""
            stored = repo.lock_refund(tx, refund.id)
            assert stored is not None
            if stored.status.is_final:
                return None
            if not REFUND_MACHINE.check(stored.status, status):
                return False  # already there (another round recorded it)
            fields: dict[str, Any] = {"updated_at": now, "failure_code": failure_code, "failure_detail": failure_detail}
            if channel_refund_no:
                fields["channel_refund_no"] = channel_refund_no
            if status.is_final:
                fields["finished_at"] = now
            if status is RefundStatus.SUCCEEDED:
                paid = load_order(tx, stored.order_id)
                assert paid is not None
                fields["fee_fen"] = self._fees.given_back(paid, stored)
            changed = repo.compare_and_set(tx, refund.id, stored.status, status, **fields)
            assert changed is not None  # its row is locked
            if status.is_final:
                order = _settle_order(tx, changed)
                kind = "void" if changed.reason is RefundReason.VOID else "refund"
                write_event(tx, order, f"{kind}.{status.lower()}", refund_event_payload(changed, order))
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
        return final

    def _round_delay(self, channels: set[Channel], attempt: int) -> timedelta:
        return timedelta(seconds=round_delay_s(channels, attempt) * self._settings.time_scale)


def _settle_order(tx: Tx, refund: Refund) -> Order:
    """A requested refund's or a void's end on its order: a refund SUCCEEDED adds to refunded_fen and moves the
    order PAID -> PARTIALLY_REFUNDED -> REFUNDED, a void SUCCEEDED moves it PAID -> VOIDED; FAILED gives the
    reserved amount back. Automatic refunds leave the order as it is (they return an extra payment, not the
    order's)."""
    order = repo.lock_order(tx, refund.order_id)  # concurrent ends of one order's refunds add up one after the other
    assert order is not None
    if refund.reason not in (RefundReason.REQUESTED, RefundReason.VOID):
        return order
    if refund.status is RefundStatus.FAILED:
        return repo.release(tx, order.id, refund.amount_fen)
    if refund.reason is RefundReason.VOID:
        actor, voided_by = f"channel:{refund.channel}", {"void_id": refund.id, "voucher_no": refund.voucher_no}
        voided = transition(tx, order.id, order.status, OrderStatus.VOIDED, "voided in its batch", actor, voided_by)
        assert voided is not None, f"order {order.id} is {order.status}: a void cannot end there"
        return voided
    refunded = order.refunded_fen + refund.amount_fen
    target = OrderStatus.REFUNDED if refunded >= order.amount_fen else OrderStatus.PARTIALLY_REFUNDED
    cause = "the whole amount refunded" if target is OrderStatus.REFUNDED else "part of the amount refunded"
    detail = {"refund_id": refund.id, "amount_fen": refund.amount_fen}
    changed = transition(
        tx, order.id, order.status, target, cause, f"channel:{refund.channel}", detail, refunded_fen=refunded
    )
    assert changed is not None, f"order {order.id} is {order.status}: a refund cannot end there"
    return changed


def _signed_in_supervisor(tx: Tx, terminal: TerminalContext) -> str:
    """The operator signed in on the terminal when that is an enabled supervisor; 403 `supervisor_required` else."""
    operator = None if terminal.operator_id is None else operators.get_operator(tx, terminal.operator_id)
    if operator is None or operator.role != OperatorRole.SUPERVISOR or operator.disabled_at is not None:
        raise Forbidden(
            "a void needs a supervisor: send the supervisor's number and password, or sign a supervisor in",
            code="supervisor_required",
        )
    return operator.id


def _same_request(existing: Refund, ask: RefundAsk) -> Refund:
    """The refund a repeated out_refund_no names, when it asks the same; 422 `out_refund_no_reused` otherwise."""
    if (existing.order_id, existing.amount_fen, existing.description) != (ask.order_id, ask.amount_fen, ask.reason):
        raise InvalidInput(
            f"out_refund_no {ask.out_refund_no} was used for another refund (refund {existing.id} of order "
            f"{existing.order_id}, {existing.amount_fen} fen)",
            code="out_refund_no_reused",
        )
    return existing


def _require_refund(tx: Tx, refund_id: str) -> Refund:
    refund = repo.get_refund(tx, refund_id)
    assert refund is not None
    return refund


def _found(refund: Refund | None, refund_id: str) -> Refund:
    if refund is None:
        raise NotFound(f"no refund {refund_id}", code="refund_not_found")
    return refund
