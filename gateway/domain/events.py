"""Terminal events: one outbox row as terminals, pollers and webhooks see it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any


def public_event_id(outbox_id: int) -> str:
    """The stable id of an outbox event, the same on the websocket, in polling and in webhooks."""
    return f"evt_{outbox_id}"


@dataclass(frozen=True)
class TerminalEvent:
    """One outbox event as terminals see it."""

    id: int
    terminal_id: str
    seq: int
    type: str
    order_id: str | None
    payload: dict[str, Any]
    created_at: datetime

    def message(self) -> dict[str, Any]:
        return {
            "type": "event",
            "seq": self.seq,
            "id": public_event_id(self.id),
            "event": self.type,
            "order_id": self.order_id,
            "created_at": self.created_at.isoformat(),
            "data": self.payload,
        }

    @cached_property
    def encoded(self) -> str:
        """The websocket text frame, encoded once however many connections it goes to."""
        return json.dumps(self.message(), separators=(",", ":"))
