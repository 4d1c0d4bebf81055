"""Deterministic fault injection: the last two digits of an auth code (or amount) pick the behaviour."""

from __future__ import annotations

from collections import defaultdict
from enum import StrEnum


class Fault(StrEnum):
    """Behaviours a simulated charge can be told to show (CHANNELS.md section 7, plus a few of our own)."""

    SUCCESS = "00"
    PASSWORD_THEN_SUCCESS = "01"  # "user paying", completes after the password delay
    PASSWORD_TIMEOUT = "02"  # "user paying" forever: forces the gateway to reverse
    UNKNOWN_THEN_SUCCESS = "03"  # SYSTEMERROR / 20000 / 99, but the charge went through
    INSUFFICIENT_BALANCE = "04"
    CODE_EXPIRED = "05"
    HTTP_TIMEOUT = "06"  # the charge went through but the answer never comes in time
    RECALL_ON_REVERSE = "07"  # paid, and the first reverse says "call me again"
    HTTP_500 = "08"  # the channel fails before doing anything
    PAY_DURING_REVERSE = "09"  # "user paying" through every query; the payment lands as the reverse arrives


class NotifyFault(StrEnum):
    """Notification behaviours for C-scan-B orders, picked by the last two digits of the amount."""

    NORMAL = "00"
    DUPLICATED = "10"  # every notification is sent twice
    LOST = "11"  # no notification is ever sent: only a query finds the payment
    DELAYED = "12"  # the first attempt waits one step of the retry ladder


class RefundFault(StrEnum):
    """Refund behaviours, picked by the last two digits of the refund amount (not the order's amount)."""

    NORMAL = "00"  # accepted; finished after the channel's usual delay (none for Alipay)
    REJECTED = "21"  # refused at once with the channel's refusal code: nothing recorded
    UNKNOWN_THEN_SUCCESS = "22"  # recorded, but answered with a system error; a retry of the number succeeds
    MERCHANT_BALANCE = "23"  # refused: the merchant's balance cannot cover it
    NEEDS_QUERIES = "24"  # never finishes by time: only after `refund_queries_to_finish` refund queries
    NOTIFY_ONLY = "25"  # finishes after the delay, but refund queries keep saying "processing"
    QUERY_ONLY = "26"  # finishes after the delay, and no refund notification is sent
    FAILS_LATER = "27"  # accepted, then fails after the delay (WeChat CHANGE, UnionPay 01): nothing moves


class OperationFault(StrEnum):
    """Faults a test can queue for the next calls of one operation; values match the bank's outcomes."""

    HTTP_500 = "http_500"
    HTTP_TIMEOUT = "http_timeout"  # the request is dropped: nothing done, no answer in time
    UNKNOWN = "unknown"  # SYSTEMERROR / 20000 / 99 with nothing done
    ANSWER_LOST = "answer_lost"  # the operation is done, but the answer says "unknown" (micropay only)


def fault_for_code(auth_code: str) -> Fault:
    """The fault an auth code asks for; unknown suffixes behave normally."""
    try:
        return Fault(auth_code[-2:])
    except ValueError:
        return Fault.SUCCESS


def notify_fault_for_amount(amount_fen: int) -> NotifyFault:
    """The notification fault an amount asks for; unknown suffixes behave normally."""
    try:
        return NotifyFault(f"{amount_fen % 100:02d}")
    except ValueError:
        return NotifyFault.NORMAL


def refund_fault_for_amount(refund_fen: int) -> RefundFault:
    """The refund fault a refund amount asks for; unknown suffixes behave normally."""
    try:
        return RefundFault(f"{refund_fen % 100:02d}")
    except ValueError:
        return RefundFault.NORMAL


class FaultQueue:
    """Faults queued by tests for the next N calls of an operation (e.g. two 500s on query)."""

    def __init__(self) -> None:
        self._queued: dict[str, list[OperationFault]] = defaultdict(list)

    def inject(self, operation: str, fault: OperationFault, times: int = 1) -> None:
        self._queued[operation].extend([fault] * times)

    def take(self, operation: str) -> OperationFault | None:
        queued = self._queued.get(operation)
        return queued.pop(0) if queued else None

    def clear(self) -> None:
        self._queued.clear()
