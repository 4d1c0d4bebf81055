"""The simulated channel's books: customers, payment codes, orders, refunds and the ledger of money moved.

Channel simulators translate their wire protocol into calls on one `SimBank` and its outcomes back into the
channel's own codes, so the money logic (and its fault injection) exists once for all three channels.
Every method is synchronous, so each call is atomic on the event loop.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from adapters.simcore.faults import (
    Fault,
    FaultQueue,
    NotifyFault,
    OperationFault,
    RefundFault,
    fault_for_code,
    notify_fault_for_amount,
    refund_fault_for_amount,
)

BEIJING = timedelta(hours=8)


class SimOrderState(StrEnum):
    """The simulator's one state machine (CHANNELS.md section 7)."""

    CREATED = "created"  # dynamic order waiting for a scan, or micropay not yet answered
    PAYING = "paying"  # waiting for the customer's password
    SUCCESS = "success"
    FAILED = "failed"
    CLOSED = "closed"
    REVOKED = "revoked"


class Outcome(StrEnum):
    """What the bank did with a request; simulators map these onto their wire codes."""

    PAID = "paid"
    PAYING = "paying"
    UNKNOWN = "unknown"  # answer SYSTEMERROR / 20000 / 99
    HTTP_500 = "http_500"
    HTTP_TIMEOUT = "http_timeout"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    CODE_EXPIRED = "code_expired"
    CODE_INVALID = "code_invalid"  # not a code of this channel, or not issued
    CODE_USED = "code_used"
    OUT_TRADE_NO_USED = "out_trade_no_used"  # same out_trade_no, different parameters
    ORDER_PAID = "order_paid"
    ORDER_CLOSED = "order_closed"
    ORDER_REVERSED = "order_reversed"
    NOT_FOUND = "not_found"
    OK = "ok"
    RETRY = "retry"  # reverse accepted, call again (recall=Y / retry_flag=Y)
    REFUND_TOO_MUCH = "refund_too_much"
    REFUND_NOT_PAID = "refund_not_paid"
    AMOUNT_MISMATCH = "amount_mismatch"  # a refund number repeated with another amount
    REFUND_REJECTED = "refund_rejected"
    MERCHANT_BALANCE_LOW = "merchant_balance_low"
    REFUND_OVERDUE = "refund_overdue"  # past the channel's refund window
    REFUND_LIMIT = "refund_limit"  # the order has as many refunds as the channel allows


class SimRefundState(StrEnum):
    """One refund at the channel: accepted and processing, then finished one way or the other."""

    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"


@dataclass
class Customer:
    """A wallet holder with a balance in fen."""

    customer_id: str
    balance_fen: int


@dataclass
class PaymentCode:
    """A payment code issued to a customer: single use, valid for the code lifetime."""

    code: str
    customer_id: str
    issued_at: float
    used: bool = False


@dataclass
class SimRefund:
    """One accepted refund of an order; the money goes back to the customer when it finishes with success."""

    out_refund_no: str
    refund_no: str
    amount_fen: int
    at: datetime  # accepted
    fault: RefundFault = RefundFault.NORMAL
    state: SimRefundState = SimRefundState.PROCESSING
    completes_at: float | None = None  # monotonic time at which time finishes it; None: time never does
    queries: int = 0  # refund queries that looked at it
    finished_at: datetime | None = None
    notify_url: str | None = None


@dataclass
class SimOrder:
    """One order as the channel knows it."""

    out_trade_no: str
    amount_fen: int
    kind: str  # "micropay" or "precreate"
    fingerprint: str
    trade_no: str
    created_at: datetime
    state: SimOrderState = SimOrderState.CREATED
    customer_id: str | None = None
    auth_code: str | None = None
    fault: Fault = Fault.SUCCESS
    completes_at: float | None = None  # monotonic time at which a PAYING order becomes SUCCESS
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    notify_url: str | None = None
    expires_at: datetime | None = None
    scanned: bool = False
    reverse_calls: int = 0
    refunds: dict[str, SimRefund] = field(default_factory=dict)

    @property
    def refunded_fen(self) -> int:
        """Fen accepted for refund and not failed: what may not exceed the paid amount."""
        return sum(r.amount_fen for r in self.refunds.values() if r.state is not SimRefundState.FAILED)


@dataclass(frozen=True)
class LedgerEntry:
    """Money moved: a charge takes from a customer, a reversal or refund gives back."""

    kind: str  # "charge", "reversal", "refund"
    out_trade_no: str
    amount_fen: int
    customer_id: str
    at: datetime
    reference: str = ""  # trade_no for charges and reversals, out_refund_no for refunds


@dataclass
class BankSettings:
    """Behaviour knobs shared by every simulator; seconds are multiplied by `time_scale`."""

    time_scale: float = 1.0
    password_threshold_fen: int = 100_000  # above this a charge needs the password
    password_delay_s: float = 5.0
    code_ttl_s: float = 60.0  # not scaled: a test issues and uses a code at once
    accept_unissued_codes: bool = True  # well-formed codes nobody issued are paid by a walk-in customer
    walk_in_balance_fen: int = 10**12
    default_balance_fen: int = 1_000_000
    refund_delay_s: float = 5.0  # an asynchronous channel finishes an accepted refund after this long
    refund_queries_to_finish: int = 3  # refund fault 24 finishes at this many refund queries, never by time


@dataclass(frozen=True)
class RefundRules:
    """How one channel takes refunds: finished at once or later, up to how long after the payment, how many."""

    asynchronous: bool
    window: timedelta | None = None
    max_refunds: int | None = None


SYNCHRONOUS_REFUNDS = RefundRules(asynchronous=False)


class SimBank:
    """The books of one simulated channel."""

    def __init__(
        self,
        settings: BankSettings,
        code_prefix: Callable[[], str],
        code_length: int,
        trade_no_prefix: str,
        refund_rules: RefundRules = SYNCHRONOUS_REFUNDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.refund_rules = refund_rules
        #: Called once when a refund finishes (success or failure): how the simulator sends refund notifications.
        self.on_refund_finished: Callable[[SimOrder, SimRefund], None] | None = None
        self._code_prefix = code_prefix
        self._code_length = code_length
        self._trade_no_prefix = trade_no_prefix
        self._clock = clock
        self._serial = itertools.count(1)
        self.customers: dict[str, Customer] = {}
        self.codes: dict[str, PaymentCode] = {}
        self.orders: dict[str, SimOrder] = {}
        self.ledger: list[LedgerEntry] = []
        self.faults = FaultQueue()

    # ---- wallets -------------------------------------------------------------------------------------

    def create_customer(self, balance_fen: int | None = None) -> Customer:
        customer = Customer(f"cust{next(self._serial):06d}", self._pick(balance_fen, "default_balance_fen"))
        self.customers[customer.customer_id] = customer
        return customer

    def issue_code(self, customer_id: str, fault: Fault = Fault.SUCCESS) -> PaymentCode:
        """A fresh single-use code for the customer whose last two digits ask for `fault`."""
        if customer_id not in self.customers:
            raise KeyError(customer_id)
        prefix = self._code_prefix()
        middle_length = self._code_length - len(prefix) - 2
        middle = "".join(secrets.choice("0123456789") for _ in range(middle_length))
        code = PaymentCode(prefix + middle + fault.value, customer_id, self._clock())
        self.codes[code.code] = code
        return code

    def _pick(self, value: int | None, setting: str) -> int:
        return value if value is not None else int(getattr(self.settings, setting))

    # ---- charges -------------------------------------------------------------------------------------

    def micropay(self, out_trade_no: str, amount_fen: int, auth_code: str, fingerprint: str) -> Outcome:
        """Charge a payment code; the outcome says what to answer."""
        queued = self.faults.take("micropay")
        if queued is OperationFault.ANSWER_LOST:
            self._micropay(out_trade_no, amount_fen, auth_code, fingerprint)
            return Outcome.UNKNOWN
        if queued is not None:
            return Outcome(queued.value)
        return self._micropay(out_trade_no, amount_fen, auth_code, fingerprint)

    def _micropay(self, out_trade_no: str, amount_fen: int, auth_code: str, fingerprint: str) -> Outcome:
        existing = self.orders.get(out_trade_no)
        if existing is not None:
            return self._repeat_micropay(existing, fingerprint)
        fault = fault_for_code(auth_code)
        if fault is Fault.HTTP_500:
            return Outcome.HTTP_500
        code_check = self._check_code(auth_code, fault)
        if code_check is not None:
            return code_check
        customer = self._customer_for(auth_code)
        order = self._new_order(out_trade_no, amount_fen, "micropay", fingerprint)
        order.auth_code, order.fault, order.customer_id = auth_code, fault, customer.customer_id
        self.codes[auth_code].used = True
        if fault is Fault.INSUFFICIENT_BALANCE or customer.balance_fen < amount_fen:
            order.state = SimOrderState.FAILED
            return Outcome.INSUFFICIENT_BALANCE
        if fault in (Fault.PASSWORD_TIMEOUT, Fault.PAY_DURING_REVERSE):
            order.state = SimOrderState.PAYING
            return Outcome.PAYING
        if fault is Fault.PASSWORD_THEN_SUCCESS or amount_fen > self.settings.password_threshold_fen:
            order.state = SimOrderState.PAYING
            order.completes_at = self._clock() + self._scaled(self.settings.password_delay_s)
            return Outcome.PAYING
        self._settle(order)
        if fault is Fault.UNKNOWN_THEN_SUCCESS:
            return Outcome.UNKNOWN
        if fault is Fault.HTTP_TIMEOUT:
            return Outcome.HTTP_TIMEOUT
        return Outcome.PAID

    def _repeat_micropay(self, order: SimOrder, fingerprint: str) -> Outcome:
        if order.fingerprint != fingerprint:
            return Outcome.OUT_TRADE_NO_USED
        self.advance(order)
        return {
            SimOrderState.SUCCESS: Outcome.ORDER_PAID,
            SimOrderState.CLOSED: Outcome.ORDER_CLOSED,
            SimOrderState.REVOKED: Outcome.ORDER_REVERSED,
            SimOrderState.PAYING: Outcome.PAYING,
        }.get(order.state, Outcome.INSUFFICIENT_BALANCE)

    def _check_code(self, auth_code: str, fault: Fault) -> Outcome | None:
        issued = self.codes.get(auth_code)
        if issued is None:
            if not self.settings.accept_unissued_codes:
                return Outcome.CODE_INVALID
            walk_in = self.customers.get("walk-in") or self._walk_in()
            self.codes[auth_code] = PaymentCode(auth_code, walk_in.customer_id, self._clock())
            issued = self.codes[auth_code]
        if issued.used:
            return Outcome.CODE_USED
        if fault is Fault.CODE_EXPIRED or self._clock() - issued.issued_at > self.settings.code_ttl_s:
            return Outcome.CODE_EXPIRED
        return None

    def _walk_in(self) -> Customer:
        customer = Customer("walk-in", self.settings.walk_in_balance_fen)
        self.customers[customer.customer_id] = customer
        return customer

    def _customer_for(self, auth_code: str) -> Customer:
        return self.customers[self.codes[auth_code].customer_id]

    # ---- dynamic QR orders ---------------------------------------------------------------------------

    def precreate(
        self, out_trade_no: str, amount_fen: int, fingerprint: str, notify_url: str, expires_at: datetime
    ) -> tuple[Outcome, SimOrder | None]:
        queued = self._queued_fault("precreate")
        if queued is not None:
            return queued, None
        existing = self.orders.get(out_trade_no)
        if existing is not None:
            if existing.fingerprint != fingerprint:
                return Outcome.OUT_TRADE_NO_USED, None
            return Outcome.OK, existing
        order = self._new_order(out_trade_no, amount_fen, "precreate", fingerprint)
        order.notify_url, order.expires_at = notify_url, expires_at
        return Outcome.OK, order

    def pay_precreated(self, out_trade_no: str, customer_id: str) -> Outcome:
        """A customer scanned the dynamic code and entered the password."""
        order = self.orders.get(out_trade_no)
        customer = self.customers.get(customer_id)
        if order is None or customer is None or order.kind != "precreate":
            return Outcome.NOT_FOUND
        self.advance(order)
        if order.state is SimOrderState.SUCCESS:
            return Outcome.ORDER_PAID
        if order.state is not SimOrderState.CREATED:
            return Outcome.ORDER_CLOSED
        if customer.balance_fen < order.amount_fen:
            return Outcome.INSUFFICIENT_BALANCE
        order.customer_id, order.scanned = customer_id, True
        self._settle(order)
        return Outcome.PAID

    def notify_fault(self, order: SimOrder) -> NotifyFault:
        return notify_fault_for_amount(order.amount_fen)

    # ---- queries, reverse, close ---------------------------------------------------------------------

    def find(self, out_trade_no: str) -> SimOrder | None:
        order = self.orders.get(out_trade_no)
        if order is not None:
            self.advance(order)
        return order

    def advance(self, order: SimOrder) -> None:
        """Let time do its work: passwords get entered, dynamic orders expire."""
        if (
            order.state is SimOrderState.PAYING
            and order.completes_at is not None
            and self._clock() >= order.completes_at
        ):
            self._settle(order)
        if (
            order.state is SimOrderState.CREATED
            and order.expires_at is not None
            and datetime.now(UTC) >= order.expires_at
        ):
            order.state, order.closed_at = SimOrderState.CLOSED, datetime.now(UTC)

    def reverse(self, out_trade_no: str) -> Outcome:
        """Reverse a micropay: close it if unpaid, give the money back if paid."""
        queued = self._queued_fault("reverse")
        if queued is not None:
            return queued
        order = self.find(out_trade_no)
        if order is None:
            return Outcome.NOT_FOUND
        order.reverse_calls += 1
        if order.fault is Fault.PAY_DURING_REVERSE and order.state is SimOrderState.PAYING:
            self._settle(order)  # the customer finished the password just as the reverse arrived
        if order.fault is Fault.RECALL_ON_REVERSE and order.reverse_calls == 1:
            return Outcome.RETRY
        if order.state is SimOrderState.SUCCESS:
            if order.refunds:
                return Outcome.ORDER_PAID  # a refunded order can no longer be reversed
            self._give_back(order, "reversal", order.amount_fen, order.trade_no)
        if order.state in (SimOrderState.SUCCESS, SimOrderState.PAYING, SimOrderState.CREATED):
            order.state, order.closed_at = SimOrderState.REVOKED, datetime.now(UTC)
        return Outcome.OK

    def close(self, out_trade_no: str) -> Outcome:
        """Close an unpaid order."""
        queued = self._queued_fault("close")
        if queued is not None:
            return queued
        order = self.find(out_trade_no)
        if order is None:
            return Outcome.NOT_FOUND
        if order.state is SimOrderState.SUCCESS:
            return Outcome.ORDER_PAID
        if order.state is SimOrderState.REVOKED:
            return Outcome.ORDER_REVERSED
        order.state, order.closed_at = SimOrderState.CLOSED, order.closed_at or datetime.now(UTC)
        return Outcome.OK

    # ---- refunds -------------------------------------------------------------------------------------

    def refund(
        self, out_trade_no: str, out_refund_no: str, refund_fen: int, notify_url: str | None = None
    ) -> tuple[Outcome, SimRefund | None]:
        """Accept a refund once per out_refund_no; a repeat returns the first refund and moves nothing.

        PAID: a new refund (processing on an asynchronous channel, finished on a synchronous one); UNKNOWN: the
        same, answered as a system error (fault 22); OK: a repeat.
        """
        queued = self._queued_fault("refund")
        if queued is not None:
            return queued, None
        order = self.find(out_trade_no)
        if order is None:
            return Outcome.NOT_FOUND, None
        existing = order.refunds.get(out_refund_no)
        if existing is not None:
            self.advance_refund(order, existing)
            return (Outcome.OK if existing.amount_fen == refund_fen else Outcome.AMOUNT_MISMATCH), existing
        refusal = self._refund_refusal(order, refund_fen)
        if refusal is not None:
            return refusal, None
        fault = refund_fault_for_amount(refund_fen)
        refund = SimRefund(
            out_refund_no, self._number("R"), refund_fen, datetime.now(UTC), fault, notify_url=notify_url
        )
        order.refunds[out_refund_no] = refund
        if not self.refund_rules.asynchronous:
            self._finish_refund(order, refund)
        elif fault is not RefundFault.NEEDS_QUERIES:
            refund.completes_at = self._clock() + self._scaled(self.settings.refund_delay_s)
        return (Outcome.UNKNOWN if fault is RefundFault.UNKNOWN_THEN_SUCCESS else Outcome.PAID), refund

    def _refund_refusal(self, order: SimOrder, refund_fen: int) -> Outcome | None:
        """Why the channel refuses a new refund at once, if it does: state, window, count, amount, then faults."""
        rules = self.refund_rules
        if order.state is not SimOrderState.SUCCESS:
            return Outcome.REFUND_NOT_PAID
        if self.refund_window_over(order):
            return Outcome.REFUND_OVERDUE
        if rules.max_refunds is not None and len(order.refunds) >= rules.max_refunds:
            return Outcome.REFUND_LIMIT
        if refund_fen <= 0 or order.refunded_fen + refund_fen > order.amount_fen:
            return Outcome.REFUND_TOO_MUCH
        fault = refund_fault_for_amount(refund_fen)
        if fault is RefundFault.REJECTED or (fault is RefundFault.FAILS_LATER and not rules.asynchronous):
            return Outcome.REFUND_REJECTED  # a synchronous channel's failure is a refusal
        if fault is RefundFault.MERCHANT_BALANCE:
            return Outcome.MERCHANT_BALANCE_LOW
        return None

    def refund_window_over(self, order: SimOrder) -> bool:
        """Whether the channel's refund window for a paid order has closed."""
        window = self.refund_rules.window
        return window is not None and order.paid_at is not None and datetime.now(UTC) - order.paid_at > window

    def refund_due_in(self, refund: SimRefund) -> float | None:
        """Seconds until time finishes a processing refund; None when time never does."""
        if refund.state is not SimRefundState.PROCESSING or refund.completes_at is None:
            return None
        return max(0.0, refund.completes_at - self._clock())

    def advance_refund(self, order: SimOrder, refund: SimRefund) -> None:
        """Let time finish a processing refund whose delay is over."""
        due_in = self.refund_due_in(refund)
        if due_in is not None and due_in <= 0:
            self._finish_refund(order, refund)

    def look_at_refund(self, order: SimOrder, refund: SimRefund) -> SimRefundState:
        """A refund query looks at a refund: what the query may say (fault 25 keeps saying processing)."""
        refund.queries += 1
        if (
            refund.fault is RefundFault.NEEDS_QUERIES
            and refund.state is SimRefundState.PROCESSING
            and refund.queries >= self.settings.refund_queries_to_finish
        ):
            self._finish_refund(order, refund)
        self.advance_refund(order, refund)
        if refund.fault is RefundFault.NOTIFY_ONLY and self.refund_rules.asynchronous:
            return SimRefundState.PROCESSING
        return refund.state

    def _finish_refund(self, order: SimOrder, refund: SimRefund) -> None:
        refund.completes_at, refund.finished_at = None, datetime.now(UTC)
        if refund.fault is RefundFault.FAILS_LATER:
            refund.state = SimRefundState.FAILED
        else:
            refund.state = SimRefundState.SUCCESS
            self._give_back(order, "refund", refund.amount_fen, refund.out_refund_no)
        if self.on_refund_finished is not None:
            self.on_refund_finished(order, refund)

    def backdate(self, out_trade_no: str, by: timedelta) -> SimOrder | None:
        """Move an order back in time (refund windows, bills of past days): its creation, payment, refunds so far
        and their ledger entries."""
        order = self.orders.get(out_trade_no)
        if order is not None:
            order.created_at -= by
            order.paid_at = order.paid_at - by if order.paid_at is not None else None
            order.closed_at = order.closed_at - by if order.closed_at is not None else None
            for refund in order.refunds.values():
                refund.at -= by
                refund.finished_at = refund.finished_at - by if refund.finished_at is not None else None
            self.ledger = [
                replace(entry, at=entry.at - by) if entry.out_trade_no == out_trade_no else entry
                for entry in self.ledger
            ]
        return order

    # ---- bills ---------------------------------------------------------------------------------------

    def bill(self, day: date) -> list[LedgerEntry]:
        """Ledger entries whose Beijing-time date is `day`."""
        return [entry for entry in self.ledger if (entry.at + BEIJING).date() == day]

    def new_trade_no(self) -> str:
        """A fresh channel trade number of this bank's shape (for invented bill lines)."""
        return self._number("")

    # ---- internals -----------------------------------------------------------------------------------

    def _queued_fault(self, operation: str) -> Outcome | None:
        """A fault a test queued for this operation, as the outcome to answer with."""
        fault = self.faults.take(operation)
        return Outcome(fault.value) if fault is not None else None

    def _new_order(self, out_trade_no: str, amount_fen: int, kind: str, fingerprint: str) -> SimOrder:
        order = SimOrder(out_trade_no, amount_fen, kind, fingerprint, self._number(""), datetime.now(UTC))
        self.orders[out_trade_no] = order
        return order

    def _number(self, kind: str) -> str:
        stamp = (datetime.now(UTC) + BEIJING).strftime("%Y%m%d")
        return f"{self._trade_no_prefix}{kind}{stamp}{next(self._serial):010d}"

    def _settle(self, order: SimOrder) -> None:
        customer = self.customers[order.customer_id or ""]
        customer.balance_fen -= order.amount_fen
        order.state, order.paid_at, order.completes_at = SimOrderState.SUCCESS, datetime.now(UTC), None
        self.ledger.append(
            LedgerEntry(
                "charge", order.out_trade_no, order.amount_fen, customer.customer_id, order.paid_at, order.trade_no
            )
        )

    def _give_back(self, order: SimOrder, kind: str, amount_fen: int, reference: str) -> None:
        customer = self.customers[order.customer_id or ""]
        customer.balance_fen += amount_fen
        self.ledger.append(
            LedgerEntry(kind, order.out_trade_no, amount_fen, customer.customer_id, datetime.now(UTC), reference)
        )

    def _scaled(self, seconds: float) -> float:
        return seconds * self.settings.time_scale

    def money_moved(self, out_trade_no: str) -> int:
        """Net fen taken from customers for an order: charges minus reversals and refunds."""
        return sum(
            entry.amount_fen if entry.kind == "charge" else -entry.amount_fen
            for entry in self.ledger
            if entry.out_trade_no == out_trade_no
        )
