"""Load shedding: a bound on the requests of one kind an instance works on at once; past it, "busy" at once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from gateway.domain.errors import Busy


class Admission:
    """Admits up to `limit` requests at a time and refuses the next at once, before it reads or writes anything.

    Refusing early keeps the answers of the admitted requests fast. Queueing instead would make every request
    wait for the database behind the backlog, until they all time out together.
    """

    def __init__(self, limit: int, what: str) -> None:
        self._limit = limit
        self._what = what
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        if self._in_flight >= self._limit:
            raise Busy(f"this gateway has {self._limit} {self._what} in flight; nothing was done, retry shortly")
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
