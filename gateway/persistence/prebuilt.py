"""Statements every payment runs, compiled once and run straight on SQLite's cursor.

SQLAlchemy's `Connection.execute` costs about 50 us of CPU per statement (cache-key generation, compiled-cache
lookup, the execution context, the result object) where SQLite itself takes a few; a payment runs about fifteen.
A `Prebuilt` keeps the Core statement (so the SQL is still written once, with SQLAlchemy, for both databases),
compiles it once per set of parameter names, and on SQLite runs the compiled SQL on the driver's cursor with the
same bind and result processing SQLAlchemy would apply (UTC times, enums, JSON). Elsewhere (PostgreSQL) it is
plain `Connection.execute`. Statements whose columns need Python-side defaults are refused: they are not run
faster, they are run wrongly.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

from gateway.persistence.database import Tx

Params = Mapping[str, Any]


@dataclass(frozen=True)
class _Plan:
    compiled: SQLCompiler
    sql: str
    positions: tuple[str, ...]
    bind: dict[str, Callable[[Any], Any]]
    row: Any  # a namedtuple type of the result columns, or None
    results: tuple[Callable[[Any], Any] | None, ...]

    def parameters(self, params: Params) -> tuple[Any, ...]:
        values = self.compiled.construct_params(params)  # fills the statement's literal values
        bind = self.bind
        return tuple(bind[name](values[name]) if name in bind else values[name] for name in self.positions)

    def rows(self, raw: Sequence[tuple[Any, ...]]) -> list[Any]:
        results, row = self.results, self.row
        return [
            row(*(value if fn is None else fn(value) for fn, value in zip(results, values, strict=True)))
            for values in raw
        ]


class Prebuilt:
    """A Core statement to run often: `rows`, `first`, `one`, `scalar`, `rowcount` or `inserted_id`."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._plans: dict[frozenset[str], _Plan] = {}

    def rows(self, tx: Tx, params: Params) -> list[Any]:
        """Every row, each with attribute access and `_asdict()`."""
        if tx.dialect != "sqlite":
            return list(tx.connection.execute(self.statement, dict(params)).all())
        plan = self._plan(tx.connection.dialect, params)
        return plan.rows(_on_driver(tx, plan, "execute", plan.parameters(params)).fetchall())

    def first(self, tx: Tx, params: Params) -> Any | None:
        found = self.rows(tx, params)
        return found[0] if found else None

    def one(self, tx: Tx, params: Params) -> Any:
        [row] = self.rows(tx, params)
        return row

    def scalar(self, tx: Tx, params: Params) -> Any:
        row = self.first(tx, params)
        return None if row is None else row[0]

    def rowcount(self, tx: Tx, params: Params) -> int:
        """Run a statement without results; how many rows it changed."""
        if tx.dialect != "sqlite":
            return int(tx.connection.execute(self.statement, dict(params)).rowcount)
        plan = self._plan(tx.connection.dialect, params)
        return int(_on_driver(tx, plan, "execute", plan.parameters(params)).rowcount)

    def many(self, tx: Tx, params: Sequence[Params]) -> None:
        """Run the statement once per parameter set (all with the same names)."""
        if tx.dialect != "sqlite":
            tx.connection.execute(self.statement, [dict(p) for p in params])
            return
        plan = self._plan(tx.connection.dialect, params[0])
        _on_driver(tx, plan, "executemany", [plan.parameters(p) for p in params])

    def inserted_id(self, tx: Tx, params: Params) -> int:
        """Run an INSERT; the new row's integer primary key."""
        if tx.dialect != "sqlite":
            key = tx.connection.execute(self.statement, dict(params)).inserted_primary_key
            assert key is not None
            return int(key[0])
        plan = self._plan(tx.connection.dialect, params)
        lastrowid = _on_driver(tx, plan, "execute", plan.parameters(params)).lastrowid
        assert lastrowid is not None
        return int(lastrowid)

    def _plan(self, dialect: Dialect, params: Params) -> _Plan:
        names = frozenset(params)
        plan = self._plans.get(names)
        if plan is None:
            plan = self._plans[names] = self._compile(dialect, sorted(names))
        return plan

    def _compile(self, dialect: Dialect, names: list[str]) -> _Plan:
        compiled = cast(ClauseElement, self.statement).compile(dialect=dialect, column_keys=names)
        assert isinstance(compiled, SQLCompiler)
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise ValueError(f"columns with Python-side defaults need the full path: {compiled.string}")
        if compiled.positiontup is None or any(bind.expanding for bind in compiled.binds.values()):
            raise ValueError(f"a prebuilt statement takes plain positional parameters: {compiled.string}")
        columns = compiled._result_columns
        row = namedtuple("Row", [column[0] for column in columns], rename=True) if columns else None
        results = tuple(column[3]._cached_result_processor(dialect, None) for column in columns)
        bind = cast(dict[str, Callable[[Any], Any]], dict(compiled._bind_processors))
        return _Plan(compiled, compiled.string, tuple(compiled.positiontup), bind, row, results)


def _on_driver(tx: Tx, plan: _Plan, method: str, parameters: Any) -> sqlite3.Cursor:
    """Run the plan on the sqlite3 connection; its errors become SQLAlchemy's, as on the full path."""
    driver = cast(sqlite3.Connection, tx.connection.connection.driver_connection)
    try:
        cursor: sqlite3.Cursor = getattr(driver, method)(plan.sql, parameters)
    except sqlite3.Error as error:
        raise DBAPIError.instance(plan.sql, parameters, error, sqlite3.Error) from error
    return cursor
