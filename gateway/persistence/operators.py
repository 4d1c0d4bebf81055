"""Operators: looking them up, counting wrong passwords and locking, disabling and setting new passwords.

A password check reads the operator, verifies the password outside any transaction (scrypt is slow), then
records the outcome with one conditional UPDATE that also checks the operator is not locked and still has the
password that was checked: concurrent wrong attempts each add one under the row's lock, none after the lock.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, case, literal, or_, select, update

from gateway.persistence.database import Tx
from gateway.persistence.tables import Operator, Terminal, UTCDateTime, table_of

_operators = table_of(Operator)
_terminals = table_of(Terminal)


def operator_by_number(tx: Tx, merchant_id: str, number: str) -> Operator | None:
    return tx.session.scalar(select(Operator).where(Operator.merchant_id == merchant_id, Operator.number == number))


def get_operator(tx: Tx, operator_id: str, merchant_id: str | None = None) -> Operator | None:
    """The operator (only if it is this merchant's, when one is given)."""
    operator = tx.session.get(Operator, operator_id, populate_existing=True)
    if operator is None or (merchant_id is not None and operator.merchant_id != merchant_id):
        return None
    return operator


def list_operators(tx: Tx, merchant_id: str | None) -> list[Operator]:
    """Every operator (of one merchant), by merchant and number."""
    query = select(Operator).order_by(Operator.merchant_id, Operator.number)
    if merchant_id is not None:
        query = query.where(Operator.merchant_id == merchant_id)
    return list(tx.session.scalars(query))


def _checkable(operator_id: str, checked_hash: str, now: datetime) -> Any:
    """The operator, with the password that was checked, and not locked at `now`."""
    o = _operators.c
    return (
        (o.id == operator_id) & (o.password_hash == checked_hash) & or_(o.locked_until.is_(None), o.locked_until <= now)
    )


def record_wrong_password(
    tx: Tx, operator_id: str, checked_hash: str, now: datetime, max_failed: int, locked_until: datetime
) -> Row[Any] | None:
    """Count one wrong password, locking the operator until `locked_until` when it is the `max_failed`th in a
    row (an expired lock starts a new count): the new (failed_sign_ins, locked_until), or None if the operator
    was locked already or its password changed meanwhile (nothing counted).
    """
    o = _operators.c
    failed = case((o.locked_until.is_not(None), 1), else_=o.failed_sign_ins + 1)
    counted = tx.connection.execute(
        update(_operators)
        .where(_checkable(operator_id, checked_hash, now))
        .values(
            failed_sign_ins=failed,
            locked_until=case((failed >= max_failed, literal(locked_until, UTCDateTime())), else_=None),
        )
        .returning(o.failed_sign_ins, o.locked_until)
    )
    return counted.first()


def record_right_password(tx: Tx, operator_id: str, checked_hash: str, now: datetime) -> Row[Any] | None:
    """Reset the count of wrong passwords: the operator's (disabled_at,), or None if it was locked meanwhile or
    its password changed (nothing reset).
    """
    o = _operators.c
    reset = tx.connection.execute(
        update(_operators)
        .where(_checkable(operator_id, checked_hash, now))
        .values(failed_sign_ins=0, locked_until=None)
        .returning(o.disabled_at)
    )
    return reset.first()


def _one(operator_id: str, merchant_id: str | None) -> Any:
    """The operator (only if it is this merchant's, when one is given)."""
    o = _operators.c
    return (o.id == operator_id) if merchant_id is None else (o.id == operator_id) & (o.merchant_id == merchant_id)


def set_operator_disabled(tx: Tx, operator_id: str, merchant_id: str | None, disabled_at: datetime | None) -> bool:
    """Disable (a time) or enable (None) the operator; disabling also signs it out of every terminal. False if
    there is no such operator (of this merchant, when one is given).
    """
    changed = tx.connection.execute(
        update(_operators).where(_one(operator_id, merchant_id)).values(disabled_at=disabled_at)
    )
    if changed.rowcount != 1:
        return False
    if disabled_at is not None:
        tx.connection.execute(
            update(_terminals)
            .where(_terminals.c.operator_id == operator_id)
            .values(operator_id=None, operator_signed_in_at=None)
        )
    return True


def set_password(tx: Tx, operator_id: str, merchant_id: str | None, password_hash: str, changed_at: datetime) -> bool:
    """A new password, which also clears the count of wrong ones and any lock; False if there is no operator."""
    changed = tx.connection.execute(
        update(_operators)
        .where(_one(operator_id, merchant_id))
        .values(password_hash=password_hash, password_changed_at=changed_at, failed_sign_ins=0, locked_until=None)
    )
    return changed.rowcount == 1
