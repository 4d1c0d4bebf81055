"""Request and response models of the merchant API, with the examples Swagger shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from gateway.api.payment_schemas import BATCH_NO_DESCRIPTION, REFERENCE_NO_DESCRIPTION, VOUCHER_NO_DESCRIPTION
from gateway.domain.channels import Channel
from gateway.domain.orders import OrderKind, OrderStatus

_ORDER_EXAMPLE: dict[str, Any] = {
    "order_id": "ord_0192f3a1b2c3d4e5f6a7b8c9",
    "out_trade_no": "20261121000123",
    "merchant_id": "mch_0192f3a1b2c3a1b2c3d4e5f6",
    "store_id": "sto_0192f3a1b2c3a1b2c3d4e5f6",
    "terminal_id": "trm_0192f3a1b2c3a1b2c3d4e5f6",
    "operator_id": None,
    "kind": "micropay",
    "channel": "wechat",
    "amount_fen": 1250,
    "refunded_fen": 0,
    "status": "PAID",
    "failure_code": None,
    "failure_detail": None,
    "description": "2 coffees",
    "auth_code_masked": "1342**********0000",
    "channel_trade_no": "4200001234202611210000000001",
    "code_url": None,
    "expires_at": None,
    "paid_at": "2026-11-21T06:30:02.120000Z",
    "batch_no": "000001",
    "voucher_no": "000123",
    "reference_no": "000000000123",
    "created_at": "2026-11-21T06:30:01.004000Z",
    "updated_at": "2026-11-21T06:30:02.125000Z",
}

_TRANSITION_EXAMPLE: dict[str, Any] = {
    "from_status": "PAYING",
    "to_status": "PAID",
    "cause": "the channel confirmed the payment",
    "actor": "channel:wechat",
    "at": "2026-11-21T06:30:02.120000Z",
    "detail": {"trade_state": "SUCCESS"},
}


class OrderOut(BaseModel):
    """An order as a merchant sees it. Amounts are integer fen; times are UTC."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_ORDER_EXAMPLE]})

    order_id: str = Field(validation_alias=AliasChoices("order_id", "id"))
    out_trade_no: str
    merchant_id: str
    store_id: str
    terminal_id: str
    operator_id: str | None
    kind: OrderKind
    channel: Channel | None = Field(description="Null for an aggregate code nobody has scanned yet.")
    amount_fen: int
    refunded_fen: int
    status: OrderStatus
    failure_code: str | None = Field(description="Why the order failed, e.g. `payment_declined`; null otherwise.")
    failure_detail: str | None = Field(description="More about the failure, for people (what the channel said).")
    description: str
    auth_code_masked: str | None = Field(description="B-scan-C only; payment codes are never shown in full.")
    channel_trade_no: str | None
    code_url: str | None
    expires_at: datetime | None
    paid_at: datetime | None
    batch_no: str | None = Field(description=BATCH_NO_DESCRIPTION)
    voucher_no: str | None = Field(description=VOUCHER_NO_DESCRIPTION)
    reference_no: str | None = Field(description=REFERENCE_NO_DESCRIPTION)
    created_at: datetime
    updated_at: datetime


class TransitionOut(BaseModel):
    """One entry of an order's audit trail."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_TRANSITION_EXAMPLE]})

    from_status: OrderStatus | None
    to_status: OrderStatus
    cause: str
    actor: str
    at: datetime
    detail: dict[str, Any]


class OrderDetailOut(OrderOut):
    """An order with its full transition history, oldest first."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"examples": [{**_ORDER_EXAMPLE, "transitions": [_TRANSITION_EXAMPLE]}]},
    )

    transitions: list[TransitionOut]


class OrderPageOut(BaseModel):
    """One page of orders, newest first; pass `next_cursor` as `cursor` for the next page."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_ORDER_EXAMPLE], "next_cursor": None}]})

    items: list[OrderOut]
    next_cursor: str | None


class HealthOut(BaseModel):
    """Liveness or readiness."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str
