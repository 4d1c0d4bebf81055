"""The contract between the gateway and a payment channel: one adapter protocol, plain data types, typed errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable


class TradeStatus(StrEnum):
    """What a channel says about a trade, normalised across channels.

    Anything a channel does not call success or failure explicitly is one of the pending values.
    """

    NOT_FOUND = "not_found"  # the channel has no such trade (Alipay precreate before the scan, ORDERNOTEXIST)
    WAITING = "waiting"  # created, nobody has paid yet (NOTPAY, WAIT_BUYER_PAY, UnionPay 02)
    PAYING = "paying"  # the customer is entering a password (USERPAYING, 10003, UnionPay 02/05)
    PAID = "paid"  # money taken (SUCCESS, TRADE_SUCCESS, TRADE_FINISHED, 00)
    REFUNDED = "refunded"  # paid, and a refund exists (WeChat REFUND, UnionPay 01)
    CLOSED = "closed"  # closed unpaid, or Alipay TRADE_CLOSED
    REVERSED = "reversed"  # reversed / cancelled (WeChat REVOKED, UnionPay 04)
    FAILED = "failed"  # payment failed at the channel (PAYERROR, UnionPay 06)

    @property
    def is_pending(self) -> bool:
        return self in (TradeStatus.NOT_FOUND, TradeStatus.WAITING, TradeStatus.PAYING)


class RefundStatus(StrEnum):
    """The state of one refund at the channel: PROCESSING until the channel says SUCCESS or FAILED."""

    SUCCESS = "success"
    PROCESSING = "processing"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class MicropayRequest:
    """Charge a customer's payment code (B-scan-C)."""

    out_trade_no: str
    amount_fen: int
    auth_code: str
    description: str
    client_ip: str = "127.0.0.1"
    terminal_id: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PrecreateRequest:
    """Create a dynamic QR order (C-scan-B)."""

    out_trade_no: str
    amount_fen: int
    description: str
    notify_url: str
    expires_at: datetime
    client_ip: str = "127.0.0.1"
    terminal_id: str | None = None


@dataclass(frozen=True, slots=True)
class PrecreateResult:
    """The channel's own QR content for a dynamic order."""

    code_url: str


@dataclass(frozen=True, slots=True)
class TradeResult:
    """The channel's view of one trade, from a charge, a query or a notification."""

    status: TradeStatus
    out_trade_no: str
    channel_trade_no: str | None = None
    amount_fen: int | None = None
    paid_at: datetime | None = None
    payer_id: str | None = None
    channel_status: str = ""  # the channel's own word (trade_state, trade_status, origRespCode) for the audit


@dataclass(frozen=True, slots=True)
class ReverseResult:
    """Outcome of reverse/cancel/close-for-micropay: `retry` means the channel asks to be called again."""

    retry: bool
    action: str = ""  # Alipay's "close" or "refund" when it says which it did


@dataclass(frozen=True, slots=True)
class RefundRequest:
    """Refund part or all of a paid trade; `out_refund_no` makes retries refund once."""

    out_trade_no: str
    out_refund_no: str
    total_fen: int
    refund_fen: int
    reason: str = ""
    channel_trade_no: str | None = None
    notify_url: str | None = None  # where WeChat and UnionPay announce the refund's end (Alipay sends nothing)


@dataclass(frozen=True, slots=True)
class RefundResult:
    """The channel's view of one refund."""

    out_refund_no: str
    status: RefundStatus
    refund_fen: int
    channel_refund_no: str | None = None


@dataclass(frozen=True, slots=True)
class RefundNotification:
    """A verified (WeChat: decrypted) refund notification: which refund, and how it ended."""

    out_trade_no: str
    out_refund_no: str
    status: RefundStatus
    refund_fen: int
    channel_refund_no: str | None = None
    channel_trade_no: str | None = None
    raw: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NotificationAck:
    """The exact HTTP answer a channel expects to a notification."""

    status_code: int
    media_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class BillEntry:
    """One payment or refund line of a channel's daily bill, in our terms."""

    kind: str  # "payment" or "refund"
    out_trade_no: str  # the order number we sent the channel (refund rows keep the original order's)
    channel_trade_no: str
    amount_fen: int  # > 0: the payment's amount, or the refund's amount
    fee_fen: int  # >= 0: the fee charged on a payment, or the fee given back on a refund
    status: str  # payments: "SUCCESS" (money kept) or "REVOKED" (reversed/cancelled); refunds: "SUCCESS"
    at: datetime  # aware UTC
    out_refund_no: str | None = None  # refunds: the refund number we sent
    channel_refund_no: str | None = None
    line_no: int = 0  # the line of the bill file it came from (1-based)


@dataclass(frozen=True, slots=True)
class BadBillLine:
    """A line of a bill that could not be read (wrong cell count, bad amount or time): reported, not fatal."""

    line_no: int  # 1-based, in the bill file it came from
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class Bill:
    """A channel's daily bill: the lines read, and the lines that could not be."""

    day: date  # the Beijing business day
    entries: list[BillEntry]
    bad_lines: list[BadBillLine]


class WireFormatError(ValueError):
    """A body, field or file that is not what the channel's protocol says it is."""


@dataclass(frozen=True, slots=True)
class Notification:
    """A verified payment notification from a channel."""

    trade: TradeResult
    app_id: str
    raw: dict[str, str] = field(default_factory=dict)


class ChannelError(Exception):
    """Base of every error an adapter raises.

    `outcome_unknown` means money may or may not have moved: query before deciding anything.
    `retry_safe` means the same request may be sent again unchanged.
    """

    outcome_unknown: bool = False
    retry_safe: bool = False

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


class OutcomeUnknown(ChannelError):
    """The channel did not say what happened (SYSTEMERROR, 20000, respCode 99): query it."""

    outcome_unknown = True
    retry_safe = True


class ChannelUnavailable(OutcomeUnknown):
    """No usable answer at all: timeout, connection error, HTTP 5xx, unparseable body."""


class ResponseSignatureInvalid(OutcomeUnknown):
    """The channel answered but its signature does not verify: the answer cannot be trusted."""

    retry_safe = False


class AlreadyPaid(OutcomeUnknown):
    """The channel says the order was already paid (ORDERPAID, ACQ.TRADE_HAS_SUCCESS): query and take it."""

    retry_safe = False


class DefiniteFailure(ChannelError):
    """The channel refused the request; nothing moved."""


class PaymentDeclined(DefiniteFailure):
    """The customer cannot pay: balance, card, limits, risk control."""


class AuthCodeInvalid(DefiniteFailure):
    """The payment code is expired, already used or not this channel's."""


class OrderStateConflict(DefiniteFailure):
    """The order is in the wrong state at the channel (closed, reversed, reused out_trade_no)."""


class RefundRejected(DefiniteFailure):
    """The channel refused a refund (too much, too late, merchant balance)."""


class RequestRejected(DefiniteFailure):
    """A malformed or unauthorised request: missing field, bad signature, wrong app/merchant id."""


class OrderNotFound(DefiniteFailure):
    """The channel has no such order."""


class NotificationInvalid(DefiniteFailure):
    """A notification failed verification: signature, app id or shape."""


class BillNotReady(DefiniteFailure):
    """The channel has no bill for that day (yet): WeChat 20002 No Bill Exist, Alipay isp.bill_not_exist, UnionPay 98.

    The simulators answer so for today and later days; WeChat also for a past day without transactions.
    """


@runtime_checkable
class ChannelAdapter(Protocol):
    """A client of one channel's protocol; every method talks HTTP to the channel's base URL."""

    name: str

    async def micropay(self, request: MicropayRequest) -> TradeResult:
        """Charge a payment code; PAID or PAYING, or raise a ChannelError."""
        ...

    async def precreate(self, request: PrecreateRequest) -> PrecreateResult:
        """Create a dynamic QR order and return the channel's code URL."""
        ...

    async def query(self, out_trade_no: str) -> TradeResult:
        """Ask the channel for the state of a trade."""
        ...

    async def reverse(self, out_trade_no: str) -> ReverseResult:
        """Reverse an unresolved micropay (WeChat reverse, Alipay cancel, UnionPay close)."""
        ...

    async def close(self, out_trade_no: str) -> None:
        """Close an unpaid dynamic order."""
        ...

    async def refund(self, request: RefundRequest) -> RefundResult:
        """Refund part or all of a paid trade."""
        ...

    async def refund_query(self, out_trade_no: str, out_refund_no: str) -> RefundResult:
        """Ask the channel for the state of a refund."""
        ...

    def parse_notification(self, body: bytes, content_type: str | None) -> Notification:
        """Verify a payment notification's signature and app id and return what it says."""
        ...

    def parse_refund_notification(self, body: bytes, content_type: str | None) -> RefundNotification:
        """Verify (WeChat: decrypt) a refund notification and return what it says; NotificationInvalid if not."""
        ...

    def notification_ack(self, accepted: bool) -> NotificationAck:
        """The answer the channel expects to a payment or refund notification: its exact acknowledgement, or not."""
        ...

    async def download_bill(self, day: date) -> Bill:
        """Fetch and parse the channel's bill for one Beijing business day; BillNotReady when it has none.

        Malformed lines are in `bad_lines`; a bill that cannot be read at all raises ChannelUnavailable.
        """
        ...
