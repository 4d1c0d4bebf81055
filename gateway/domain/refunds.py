"""Refund states, reasons and the channels' refund rules, shared by automatic refunds and requested refunds."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from gateway.domain.beijing import business_day
from gateway.domain.channels import Channel
from gateway.domain.errors import Conflict, DomainError, InvalidInput
from gateway.domain.machine import Machine
from gateway.domain.orders import OrderKind, OrderStatus


class RefundStatus(StrEnum):
    """Where one refund stands at its channel."""

    PENDING = "PENDING"  # to be sent, or sent without a definite answer: sent again with the same number
    PROCESSING = "PROCESSING"  # accepted by the channel, not finished yet: queried until it is
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # the channel refused it; a person has to look

    @property
    def is_final(self) -> bool:
        return REFUND_MACHINE.is_final(self)

    @property
    def shown(self) -> RefundStatus:
        """The state the API and events show: PENDING is PROCESSING to the outside (the refund is under way)."""
        return RefundStatus.PROCESSING if self is RefundStatus.PENDING else self


class RefundReason(StrEnum):
    """Why money is given back."""

    PAID_AFTER_CLOSE = "paid_after_close"  # a payment arrived for an order already closed
    DUPLICATE_PAYMENT = "duplicate_payment"  # a second channel attempt paid an order already paid
    REQUESTED = "requested"  # a terminal or the merchant asked for it: it counts against the order's amount
    VOID = "void"  # the terminal voided the payment in its open batch: the whole amount, the order ends VOIDED


R = RefundStatus

#: Every allowed (from, to) pair with what causes it; (None, PENDING) is how every refund starts.
REFUND_MACHINE: Machine[RefundStatus] = Machine(
    "refund",
    RefundStatus,
    {
        (None, R.PENDING): "a refund decided in the order's transaction",
        (R.PENDING, R.PROCESSING): "the channel accepted the refund",
        (R.PENDING, R.SUCCEEDED): "the channel refunded at once",
        (R.PENDING, R.FAILED): "the channel refused the refund, or does not know the trade",
        (R.PROCESSING, R.SUCCEEDED): "the channel's refund query says it succeeded",
        (R.PROCESSING, R.FAILED): "the channel's refund query says it failed",
        # Accepted once, unknown now: it is sent again under the same refund number.
        (R.PROCESSING, R.PENDING): "the channel no longer knows the accepted refund",
    },
)

#: Orders that can still give money back.
REFUNDABLE = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)
#: How long after the payment each channel takes a refund (WeChat 1 year; Alipay 3 months, counted as 90 days;
#: UnionPay's is the merchant's contract: GATEWAY_UNIONPAY_REFUND_WINDOW_DAYS).
REFUND_WINDOW_DAYS: dict[Channel, int] = {Channel.WECHAT: 365, Channel.ALIPAY: 90}
#: Refunds one order may have at a channel (WeChat: 50); channels not listed have no cap.
MAX_REFUNDS_PER_ORDER: dict[Channel, int] = {Channel.WECHAT: 50}
#: Waits between rounds of an unfinished refund, per channel (the last repeats), before the time scale: WeChat
#: finishes an accepted refund later (minutes), Alipay answers at once, UnionPay on ACP's 1-2-4-8-16-32 s rhythm.
REFUND_ROUND_DELAYS_S: dict[Channel, tuple[float, ...]] = {
    Channel.WECHAT: (5.0, 10.0, 30.0, 60.0, 300.0),
    Channel.ALIPAY: (2.0, 5.0, 15.0, 60.0, 300.0),
    Channel.UNIONPAY: (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 300.0),
}


def round_delay_s(channels: set[Channel], attempt: int) -> float:
    """The wait before the next round over unfinished refunds of these channels: the shortest of their rhythms."""
    return min(delays[min(attempt, len(delays) - 1)] for delays in (REFUND_ROUND_DELAYS_S[c] for c in channels))


#: How long after a micropay each channel still reverses it (WeChat reverse: 7 days; Alipay cancel: 24 hours);
#: UnionPay cancels only on the Beijing day of the payment. Later, a void is sent as a full refund.
REVERSE_WINDOWS: dict[Channel, timedelta] = {Channel.WECHAT: timedelta(days=7), Channel.ALIPAY: timedelta(hours=24)}


def void_by_reverse(kind: OrderKind, channel: Channel, paid_at: datetime, now: datetime) -> bool:
    """Whether a void is the channel's reverse/cancel of the micropay (money back, trade revoked) rather than a
    full refund: only a micropay, and only while its channel still reverses it."""
    if kind is not OrderKind.MICROPAY:
        return False  # a dynamic code's payment is voided by a full refund
    if channel is Channel.UNIONPAY:
        return business_day(paid_at) == business_day(now)
    return now - paid_at <= REVERSE_WINDOWS[channel]


def check_refund_window(channel: Channel, paid_at: datetime, now: datetime, window_days: int) -> None:
    """Refuse a refund the channel no longer takes (`window_days`: the channel's window, in days)."""
    if now - paid_at > timedelta(days=window_days):
        raise InvalidInput(
            f"{channel} takes refunds up to {window_days} days after the payment; this one was paid "
            f"{paid_at.date().isoformat()}",
            code="refund_window_closed",
        )


def check_voidable(order_id: str, status: OrderStatus, batch_no: str | None, open_batch_no: str | None) -> None:
    """Refuse a void of anything but a PAID payment of the terminal's open batch (a payment of a settled batch
    can be refunded instead)."""
    if status is not OrderStatus.PAID:
        raise Conflict(
            f"an order that is {status} cannot be voided (only a PAID payment with no refund)",
            code="order_not_voidable",
        )
    if batch_no is None or batch_no != open_batch_no:
        raise Conflict(
            f"payment {order_id} belongs to batch {batch_no or 'none'}, which is settled (the open batch is "
            f"{open_batch_no}): it can no longer be voided; refund it with POST /v1/refunds",
            code="batch_settled",
        )


def not_refundable(status: OrderStatus) -> Conflict:
    return Conflict(f"an order that is {status} cannot be refunded", code="order_not_refundable")


def refusal(
    status: OrderStatus, reserved_fen: int, amount_fen: int, count: int, asked_fen: int, cap: int
) -> DomainError:
    """Why reserving `asked_fen` for a refund was refused, on an order found in this state."""
    if status not in REFUNDABLE:
        return not_refundable(status)
    if reserved_fen + asked_fen > amount_fen:
        return InvalidInput(
            f"{asked_fen} fen is more than the {amount_fen - reserved_fen} fen left to refund "
            f"(paid {amount_fen}, refunded or being refunded {reserved_fen})",
            code="refund_exceeds_remaining",
        )
    if count >= cap:
        return InvalidInput(
            f"this order already has {count} refunds, the most its channel takes", code="too_many_refunds"
        )
    raise AssertionError("the reservation was refused for no reason")
