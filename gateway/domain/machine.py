"""One state-machine type for every status table: which status may follow which, creation included."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from gateway.domain.errors import InvalidTransition

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True, eq=False)  # one table per status: compared and hashed by identity
class Machine(Generic[S]):
    """A transition table: every allowed (from, to) pair with its cause; `None` as "from" is creation.

    Self-pairs are listed only where a repeat is real progress; any other repeat is a harmless no-op, so a
    duplicate notification or a retried job changes nothing. Final states are those nothing may follow.
    """

    name: str
    statuses: type[S]
    transitions: Mapping[tuple[S | None, S], str]

    def __post_init__(self) -> None:
        for source, target in self.transitions:
            for status in (source, target):
                if status is not None and not isinstance(status, self.statuses):
                    raise TypeError(f"{self.name}: {status!r} is not a {self.statuses.__name__}")

    def allows(self, current: S | None, target: S) -> bool:
        """Whether `target` may follow `current` (None: may a new record start at `target`) as a recorded change."""
        return (current, target) in self.transitions

    def check(self, current: S | None, target: S) -> bool:
        """True if the change should be applied, False if it is a harmless repeat; raises if it is not allowed."""
        if self.allows(current, target):
            return True
        if current is target:
            return False
        raise InvalidTransition(f"a {self.name} cannot go from {current or 'nothing'} to {target}")

    def cause(self, current: S | None, target: S) -> str:
        """What the table says causes this change (the audit row's default cause)."""
        self.check(current, target)
        return self.transitions.get((current, target), "repeat")

    def creation_path(self, *statuses: S) -> list[tuple[S | None, S]]:
        """The pairs a new record goes through to reach `statuses[-1]`, each checked against the table."""
        pairs: list[tuple[S | None, S]] = []
        current: S | None = None
        for status in statuses:
            if not self.allows(current, status):
                raise InvalidTransition(f"a new {self.name} cannot go from {current or 'nothing'} to {status}")
            pairs.append((current, status))
            current = status
        return pairs

    def sources_of(self, target: S) -> tuple[S, ...]:
        """Every status `target` may follow (for a compare-and-set over several sources)."""
        return tuple(source for source, to in self.transitions if to is target and source is not None)

    def is_final(self, status: S) -> bool:
        """Nothing may follow `status`."""
        return not any(source is status for source, _ in self.transitions)

    def initial_statuses(self) -> Iterable[S]:
        return (target for source, target in self.transitions if source is None)
