"""Operators (cashiers and supervisors): signing in and out on terminals, supervisor checks, the lockout after
wrong passwords, and their administration (list, look up, disable, enable, new password).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from gateway.domain.errors import Forbidden, InvalidInput, NotFound
from gateway.persistence import batches
from gateway.persistence import operators as repo
from gateway.persistence import terminals as terminal_rows
from gateway.persistence.database import Database, Tx
from gateway.persistence.tables import Operator
from gateway.services.credentials import hash_password, verify_password
from gateway.services.terminals import TerminalContext


class OperatorRole(StrEnum):
    CASHIER = "cashier"  # takes payments
    SUPERVISOR = "supervisor"  # also approves refunds and voids


OPERATOR_ROLES = tuple(role.value for role in OperatorRole)
MIN_PASSWORD_LENGTH = 6


@dataclass(frozen=True)
class OperatorSummary:
    """An operator as administered: its state, never its password (nor the password's hash)."""

    operator_id: str
    merchant_id: str
    number: str
    name: str
    role: str
    failed_sign_ins: int  # wrong passwords in a row
    locked_until: datetime | None  # refused at sign-in until then (a time past: not any more)
    disabled_at: datetime | None
    password_changed_at: datetime | None  # the last reset
    created_at: datetime

    @classmethod
    def of(cls, operator: Operator) -> OperatorSummary:
        return cls(
            operator.id,
            operator.merchant_id,
            operator.number,
            operator.name,
            operator.role,
            operator.failed_sign_ins,
            operator.locked_until,
            operator.disabled_at,
            operator.password_changed_at,
            operator.created_at,
        )


def check_new_password(password: str) -> None:
    """The rule every operator password is set by (creation and reset)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"operator password needs at least {MIN_PASSWORD_LENGTH} characters", code="weak_password")


def _sign_in_failed() -> Forbidden:
    return Forbidden("operator number or password is wrong", code="operator_sign_in_failed")


def _is_locked(operator: Operator, now: datetime) -> bool:
    return operator.locked_until is not None and operator.locked_until > now


class OperatorService:
    """Checks operators' passwords with a lockout: `max_failed_sign_ins` wrong ones in a row lock the operator
    for `lockout`, during which even the right password is refused; the right one resets the count.
    """

    def __init__(self, db: Database, max_failed_sign_ins: int, lockout: timedelta) -> None:
        self._db = db
        self._max_failed = max_failed_sign_ins
        self._lockout = lockout

    # ---- passwords ----------------------------------------------------------------------------------

    async def sign_in(self, terminal: TerminalContext, number: str, password: str) -> Operator:
        """Sign an operator of the terminal's merchant in on the terminal (replacing whoever was)."""

        def sign_in(tx: Tx, operator: Operator, now: datetime) -> None:
            terminal_rows.set_operator(tx, terminal.terminal_id, operator.id, now)
            batches.open_first_batch(tx, terminal.terminal_id)

        return await self._check(terminal.merchant_id, number, password, sign_in)

    async def sign_out(self, terminal: TerminalContext) -> None:
        await self._db.transaction(terminal_rows.set_operator, terminal.terminal_id, None, None)

    async def verify_supervisor(self, merchant_id: str, number: str, password: str) -> Operator:
        """The merchant's supervisor with this number and password (a refund's or void's approval).

        The same lockout as signing in; 403 `operator_sign_in_failed` on a wrong number or password,
        `operator_locked`, `operator_disabled`, or `supervisor_required` when the operator is a cashier.
        """

        def require_supervisor(_tx: Tx, operator: Operator, _now: datetime) -> None:
            if operator.role != OperatorRole.SUPERVISOR:
                raise Forbidden(f"operator {operator.number} is not a supervisor", code="supervisor_required")

        return await self._check(merchant_id, number, password, require_supervisor)

    async def _check(
        self, merchant_id: str, number: str, password: str, then: Callable[[Tx, Operator, datetime], None]
    ) -> Operator:
        """The operator whose number and password these are; `then` runs in the transaction that resets its
        count of wrong passwords (raising there undoes both).

        The password is verified between two transactions (scrypt takes tens of milliseconds, in a thread);
        the outcome is written by a conditional UPDATE that finds the operator unlocked and with the password
        that was checked, so concurrent wrong attempts count one each and none counts past the lock.
        """
        operator = await self._db.transaction(repo.operator_by_number, merchant_id, number)
        if operator is None:
            raise _sign_in_failed()
        if _is_locked(operator, datetime.now(UTC)):
            raise self._locked(operator)
        right = await asyncio.to_thread(verify_password, password, operator.password_hash)
        now = datetime.now(UTC)
        if not right:
            counted = await self._db.transaction(
                repo.record_wrong_password,
                operator.id,
                operator.password_hash,
                now,
                self._max_failed,
                now + self._lockout,
            )
            if counted is None:
                raise await self._refusal_after_race(operator.id, now)
            operator.failed_sign_ins, operator.locked_until = counted.failed_sign_ins, counted.locked_until
            raise self._locked(operator) if operator.locked_until is not None else _sign_in_failed()

        def accept(tx: Tx) -> bool:
            reset = repo.record_right_password(tx, operator.id, operator.password_hash, now)
            if reset is None:
                return False
            if reset.disabled_at is not None:
                raise Forbidden(f"operator {number} is disabled", code="operator_disabled")
            then(tx, operator, now)
            return True

        if not await self._db.transaction(accept):
            raise await self._refusal_after_race(operator.id, now)
        operator.failed_sign_ins, operator.locked_until = 0, None
        return operator

    async def _refusal_after_race(self, operator_id: str, now: datetime) -> Forbidden:
        """Why a checked password could not be recorded: the operator was locked meanwhile, or given a new
        password (then the one checked is wrong now)."""
        operator = await self._db.transaction(repo.get_operator, operator_id)
        return self._locked(operator) if operator is not None and _is_locked(operator, now) else _sign_in_failed()

    def _locked(self, operator: Operator) -> Forbidden:
        assert operator.locked_until is not None
        until = operator.locked_until.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return Forbidden(
            f"operator {operator.number} is locked until {until} after {self._max_failed} wrong passwords in a row; "
            "a new password unlocks it",
            code="operator_locked",
        )

    # ---- administration -----------------------------------------------------------------------------

    async def list_operators(self, merchant_id: str | None = None) -> list[OperatorSummary]:
        """Every operator (of one merchant), by merchant and number."""
        operators = await self._db.transaction(repo.list_operators, merchant_id)
        return [OperatorSummary.of(operator) for operator in operators]

    async def get_operator(self, operator_id: str, merchant_id: str | None = None) -> OperatorSummary:
        """The operator; another merchant's (when `merchant_id` is given) does not exist for this one."""
        return await self._db.transaction(_require, operator_id, merchant_id)

    async def set_disabled(self, operator_id: str, disabled: bool, merchant_id: str | None = None) -> OperatorSummary:
        """Disable the operator (signed out of every terminal, refused at sign-in) or enable it again."""
        disabled_at = datetime.now(UTC) if disabled else None

        def toggle(tx: Tx) -> OperatorSummary:
            if not repo.set_operator_disabled(tx, operator_id, merchant_id, disabled_at):
                raise _not_found(operator_id)
            return _require(tx, operator_id, merchant_id)

        return await self._db.transaction(toggle)

    async def reset_password(self, operator_id: str, password: str, merchant_id: str | None = None) -> OperatorSummary:
        """Give the operator a new password; the count of wrong ones is cleared and a lock lifted."""
        check_new_password(password)
        password_hash = await asyncio.to_thread(hash_password, password)

        def reset(tx: Tx) -> OperatorSummary:
            if not repo.set_password(tx, operator_id, merchant_id, password_hash, datetime.now(UTC)):
                raise _not_found(operator_id)
            return _require(tx, operator_id, merchant_id)

        return await self._db.transaction(reset)


def _not_found(operator_id: str) -> NotFound:
    return NotFound(f"no operator {operator_id}", code="operator_not_found")


def _require(tx: Tx, operator_id: str, merchant_id: str | None) -> OperatorSummary:
    operator = repo.get_operator(tx, operator_id, merchant_id)
    if operator is None:
        raise _not_found(operator_id)
    return OperatorSummary.of(operator)
