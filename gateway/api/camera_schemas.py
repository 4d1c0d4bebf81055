"""Request and response models of the scan-session and camera APIs, with the examples Swagger shows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gateway.api.payment_schemas import _PAYMENT_EXAMPLE, PAYING_EXAMPLE, AmountFen, OutTradeNo, PaymentOut
from gateway.domain.scans import ScanSessionStatus
from gateway.services.cameras import ScanSessionView

_SESSION_EXAMPLE: dict[str, Any] = {
    "session_id": "scn_0192f3a1b2c3d4e5f6a7b8c9",
    "terminal_id": "trm_0192f3a1b2c3d4e5f6a7b8c9",
    "status": "CHARGED",
    "amount_fen": 1250,
    "out_trade_no": "20261121000124",
    "description": "2 coffees",
    "expires_at": "2026-11-21T06:32:01.004000Z",
    "created_at": "2026-11-21T06:30:01.004000Z",
    "closed_at": "2026-11-21T06:30:09.310000Z",
    "last_refusal": None,
    "payment": _PAYMENT_EXAMPLE,
}

#: A code charged, its payment still PAYING (the camera's 202).
CHARGED_PAYING_EXAMPLE: dict[str, Any] = {**_SESSION_EXAMPLE, "payment": PAYING_EXAMPLE}


class ScanSessionIn(BaseModel):
    """Wait for this terminal's camera to read the customer's payment code for an amount."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"amount_fen": 1250, "out_trade_no": "20261121000124", "description": "2 coffees"}]
        },
    )

    amount_fen: AmountFen = Field(description="Integer fen (1/100 yuan).")
    out_trade_no: OutTradeNo | None = Field(
        None, description="Your order number for the payment (unique per merchant); default: made from the session id."
    )
    description: Annotated[str, StringConstraints(max_length=128)] = ""


class ScanSessionOut(BaseModel):
    """A scan session. OPEN: waiting for a code; CHARGING: a code is being charged; CHARGED: `payment` is the
    order the code became (its status is the payment's outcome); CANCELLED or EXPIRED: nothing was charged.
    """

    model_config = ConfigDict(json_schema_extra={"examples": [_SESSION_EXAMPLE]})

    session_id: str
    terminal_id: str
    status: ScanSessionStatus
    amount_fen: int
    out_trade_no: str
    description: str
    expires_at: datetime
    created_at: datetime
    closed_at: datetime | None
    last_refusal: str | None = Field(description="Why the last code shown during this session was refused.")
    payment: PaymentOut | None

    @classmethod
    def of(cls, view: ScanSessionView) -> ScanSessionOut:
        scan = view.session
        return cls(
            session_id=scan.id,
            terminal_id=scan.terminal_id,
            status=scan.status,
            amount_fen=scan.amount_fen,
            out_trade_no=scan.out_trade_no,
            description=scan.description,
            expires_at=scan.expires_at,
            created_at=scan.created_at,
            closed_at=scan.closed_at,
            last_refusal=scan.last_refusal,
            payment=PaymentOut.model_validate(view.order) if view.order is not None else None,
        )


class CameraCodeIn(BaseModel):
    """A code the camera decoded itself (the edge CLI `python -m camera --gateway ...` sends these)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "134567890123456789"}]})

    code: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        description="The decoded text; only wallet payment codes are charged, and never echoed back in full."
    )
