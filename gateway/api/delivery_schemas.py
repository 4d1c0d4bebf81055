"""Request and response models of event delivery: terminal tickets and event pages, merchant webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.services.webhooks import MAX_URL_LENGTH

_EVENT_EXAMPLE: dict[str, Any] = {
    "type": "event",
    "seq": 42,
    "id": "evt_1207",
    "event": "order.paid",
    "order_id": "ord_0192f3a1b2c3d4e5f6a7b8c9",
    "created_at": "2026-11-21T06:30:02.130000+00:00",
    "data": {
        "order_id": "ord_0192f3a1b2c3d4e5f6a7b8c9",
        "out_trade_no": "20261121000123",
        "kind": "MICROPAY",
        "channel": "wechat",
        "status": "PAID",
        "amount_fen": 1250,
        "refunded_fen": 0,
        "channel_trade_no": "4200001234202611210000000001",
        "auth_code_masked": "1342**********0000",
        "failure_code": None,
        "paid_at": "2026-11-21T06:30:02.120000+00:00",
        "updated_at": "2026-11-21T06:30:02.121000+00:00",
    },
}


class TicketOut(BaseModel):
    """A single-use ticket that opens this terminal's event websocket; it expires within seconds."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ticket": "wst_hq3Xb0c1T2rW6mKpZ9a8y7x6w5v4u3t2",
                    "expires_at": "2026-11-21T06:30:30Z",
                    "websocket_path": "/v1/terminals/trm_01a1fe7da76bbe3b81eb1206/events?ticket=wst_hq3Xb0c1...",
                }
            ]
        }
    )

    ticket: str
    expires_at: datetime
    websocket_path: str = Field(description="Connect to this path (ws:// or wss:// on the gateway's host).")


class TerminalEventOut(BaseModel):
    """One event, exactly as the websocket sends it: `seq` counts this terminal's events from 1."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EVENT_EXAMPLE]})

    type: str = Field(description="Always `event`.")
    seq: int
    id: str = Field(description="Stable event id, the same in merchant webhooks: de-duplicate by it.")
    event: str = Field(description="`order.paid`, `order.failed`, `order.reversed`, `order.closed`, ...")
    order_id: str | None
    created_at: str = Field(description="ISO 8601, UTC, as written in the event (like the times in `data`).")
    data: dict[str, Any] = Field(description="The order as it is after the change.")


class TerminalEventPageOut(BaseModel):
    """Events after `after`, oldest first; ask again with `after=next_after`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_EVENT_EXAMPLE], "next_after": 42}]})

    items: list[TerminalEventOut]
    next_after: int


class WebhookEndpointIn(BaseModel):
    """Where to POST this merchant's events: http(s); outside dev mode, a public address."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"url": "https://shop.example.com/qrpay/notify"}]}
    )

    url: str = Field(
        max_length=MAX_URL_LENGTH,
        description="http:// or https:// with a host, no user or password; the events are POSTed to it as JSON.",
    )


class WebhookEndpointOut(BaseModel):
    """The notify URL; `secret` (for checking signatures) is shown only in the answer that set it."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "url": "https://shop.example.com/qrpay/notify",
                    "secret": "whsec_9yQm2b7Yx0n6c5V4b3N2m1L0k9J8h7G6",
                    "created_at": "2026-11-21T06:00:00Z",
                }
            ]
        },
    )

    url: str
    secret: str | None = None
    created_at: datetime


class WebhookAttemptOut(BaseModel):
    """One POST: the answer's status code, or why there was none."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {"number": 1, "at": "2026-11-21T06:30:02Z", "status_code": 503, "error": "HTTP 503", "duration_ms": 12}
            ]
        },
    )

    number: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class WebhookDeliveryOut(BaseModel):
    """One event owed to the notify URL: `pending` (retrying), `delivered` (a 2xx) or `failed` (gave up)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_id": "evt_1207",
                    "event": "order.paid",
                    "order_id": "ord_0192f3a1b2c3d4e5f6a7b8c9",
                    "url": "https://shop.example.com/qrpay/notify",
                    "status": "delivered",
                    "next_attempt_at": None,
                    "delivered_at": "2026-11-21T06:30:18Z",
                    "created_at": "2026-11-21T06:30:02Z",
                    "attempts": [
                        {
                            "number": 1,
                            "at": "2026-11-21T06:30:02Z",
                            "status_code": 503,
                            "error": "HTTP 503",
                            "duration_ms": 12,
                        },
                        {
                            "number": 2,
                            "at": "2026-11-21T06:30:17Z",
                            "status_code": 200,
                            "error": None,
                            "duration_ms": 9,
                        },
                    ],
                }
            ]
        }
    )

    event_id: str
    event: str
    order_id: str | None = Field(None, description="None for an event about no order (`reconciliation.completed`).")
    url: str
    status: str
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    attempts: list[WebhookAttemptOut]


class WebhookDeliveryPageOut(BaseModel):
    """Deliveries, newest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": []}]})

    items: list[WebhookDeliveryOut]
