"""Request and response models of the terminal payment API, with the examples Swagger shows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Header
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PlainValidator, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from gateway.domain.channels import Channel
from gateway.domain.errors import InvalidInput
from gateway.domain.money import DEFAULT_MAX_AMOUNT_FEN, require_fen
from gateway.domain.orders import OrderStatus

OutTradeNo = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,32}$")]
#: Null only on transactions from before numbering.
BATCH_NO_DESCRIPTION = "批次号: the terminal's batch the transaction belongs to, 6 digits."
VOUCHER_NO_DESCRIPTION = "凭证号: +1 per transaction of the terminal, 6 digits (000001 after 999999)."
REFERENCE_NO_DESCRIPTION = "参考号: 12 digits, unique per merchant."


def _fen(value: object) -> int:
    """An amount as the request gives it: refused with the same problem (`invalid_amount`) as the domain refuses."""
    try:
        return require_fen(value)
    except InvalidInput as refused:
        raise PydanticCustomError(refused.code, "{detail}", {"detail": refused.detail}) from None


#: An amount in a request: a JSON integer of fen, at least 1. The maximum (`amount_too_large`) is the gateway's
#: configured one, checked by the domain; the spec shows it (see `document_amount_limit`).
AmountFen = Annotated[
    int,
    PlainValidator(_fen),
    WithJsonSchema({"type": "integer", "minimum": 1, "maximum": DEFAULT_MAX_AMOUNT_FEN}),
]

#: The optional Idempotency-Key header; its rules are checked (and refused as `invalid_idempotency_key`) by the
#: service, the spec shows them.
IDEMPOTENCY_KEY_SCHEMA = {"minLength": 1, "maxLength": 64}


def idempotency_key_header(what: str) -> Any:
    return Header(description=f"1-64 printable characters. {what}", json_schema_extra=IDEMPOTENCY_KEY_SCHEMA)


def document_amount_limit(spec: dict[str, Any], max_amount_fen: int) -> dict[str, Any]:
    """Every request amount in the spec shows the maximum this gateway is configured with."""
    for schema in spec.get("components", {}).get("schemas", {}).values():
        amount = schema.get("properties", {}).get("amount_fen", {})
        if "maximum" in amount:
            amount["maximum"] = max_amount_fen
    return spec


_PAYMENT_EXAMPLE: dict[str, Any] = {
    "order_id": "ord_0192f3a1b2c3d4e5f6a7b8c9",
    "out_trade_no": "20261121000123",
    "channel": "wechat",
    "status": "PAID",
    "amount_fen": 1250,
    "refunded_fen": 0,
    "auth_code_masked": "1342**********0000",
    "channel_trade_no": "4200001234202611210000000001",
    "failure_code": None,
    "failure_detail": None,
    "paid_at": "2026-11-21T06:30:02.120000Z",
    "created_at": "2026-11-21T06:30:01.004000Z",
    "batch_no": "000001",
    "voucher_no": "000123",
    "reference_no": "000000000123",
}

#: A micropay answered 202: the customer is still entering a password in the wallet.
PAYING_EXAMPLE: dict[str, Any] = {**_PAYMENT_EXAMPLE, "status": "PAYING", "channel_trade_no": None, "paid_at": None}


class MicropayIn(BaseModel):
    """Charge the customer's payment code (B-scan-C)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "amount_fen": 1250,
                    "out_trade_no": "20261121000123",
                    "auth_code": "134567890123456789",
                    "description": "2 coffees",
                }
            ]
        },
    )

    amount_fen: AmountFen = Field(description="Integer fen (1/100 yuan).")
    out_trade_no: OutTradeNo = Field(description="Your order number: 1-32 letters and digits, unique per merchant.")
    auth_code: Annotated[str, StringConstraints(max_length=32)] = Field(
        description="The payment code read from the customer's wallet (16-24 digits)."
    )
    description: Annotated[str, StringConstraints(max_length=128)] = ""


class PaymentOut(BaseModel):
    """A payment's state. 200: final. 202: still PAYING; the final result comes as a terminal event."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_PAYMENT_EXAMPLE]})

    order_id: str = Field(validation_alias=AliasChoices("order_id", "id"))
    out_trade_no: str
    channel: Channel | None
    status: OrderStatus
    amount_fen: int
    refunded_fen: int
    auth_code_masked: str | None
    channel_trade_no: str | None
    failure_code: str | None = Field(description="Why a FAILED payment failed, e.g. `payment_declined`.")
    failure_detail: str | None
    paid_at: datetime | None
    created_at: datetime
    batch_no: str | None = Field(description=BATCH_NO_DESCRIPTION)
    voucher_no: str | None = Field(description=VOUCHER_NO_DESCRIPTION)
    reference_no: str | None = Field(description=REFERENCE_NO_DESCRIPTION)


class OperatorSignInIn(BaseModel):
    """An operator of this terminal's merchant signs in on it."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"number": "001", "password": "cashier-001"}]}
    )

    number: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,16}$")]
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class OperatorOut(BaseModel):
    """The operator signed in on the terminal."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [{"id": "op_0192f3a1b2c3d4e5f6a7b8c9", "number": "001", "name": "Li", "role": "cashier"}]
        },
    )

    id: str
    number: str
    name: str
    role: str
