"""Typed business errors; the API maps each kind to one problem+json status in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule was broken. `code` is stable and machine-readable; `detail` is for people."""

    code = "domain_error"
    title = "Request cannot be processed"

    def __init__(self, detail: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra  # more members of the problem, for machines (e.g. the transactions still in flight)
        if code is not None:
            self.code = code


class InvalidInput(DomainError):
    """The request is well-formed but its values break a rule."""

    code = "invalid_input"
    title = "Invalid input"


class NotFound(DomainError):
    """The thing does not exist, or belongs to somebody else."""

    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    """The request clashes with the current state."""

    code = "conflict"
    title = "Conflict"


class Unauthenticated(DomainError):
    """Missing or wrong credentials."""

    code = "unauthenticated"
    title = "Authentication required"


class Forbidden(DomainError):
    """Authenticated, but not allowed to do this."""

    code = "forbidden"
    title = "Forbidden"


class UnsupportedPaymentCode(InvalidInput):
    """The payment code is well-formed digits but belongs to no supported wallet."""

    code = "unsupported_payment_code"


class MalformedPaymentCode(InvalidInput):
    """The payment code is not 16-24 digits."""

    code = "malformed_payment_code"


class InvalidTransition(Conflict):
    """The order cannot move from its state to the one asked for."""

    code = "invalid_transition"


class Busy(DomainError):
    """This instance has as much of this work in flight as it takes; nothing was done, retry shortly."""

    code = "busy"
    title = "Busy, retry shortly"

    def __init__(self, detail: str, retry_after_s: int = 1) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
