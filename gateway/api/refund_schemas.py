"""Request and response models of refunds (terminal and merchant API), with the examples Swagger shows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from gateway.api.payment_schemas import AmountFen
from gateway.domain.channels import Channel
from gateway.domain.orders import OrderStatus
from gateway.domain.refunds import REFUNDABLE, RefundReason
from gateway.services.records import Order, Refund

OutRefundNo = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=80)]

_ORDER = "ord_0192f3a1b2c3d4e5f6a7b8c9"
_REFUND_EXAMPLE: dict[str, Any] = {
    "refund_id": "rfd_0192f3a1b2c3d4e5f6a7b8d0",
    "order_id": _ORDER,
    "out_refund_no": "R20261121000123-1",
    "kind": "requested",
    "channel": "wechat",
    "amount_fen": 500,
    "reason": "one coffee returned",
    "status": "SUCCEEDED",
    "channel_refund_no": "50000000382019052709732678859",
    "failure_code": None,
    "failure_detail": None,
    "terminal_id": "trm_0192f3a1b2c3a1b2c3d4e5f6",
    "operator_id": "op_0192f3a1b2c3d4e5f6a7b8c9",
    "supervisor_id": None,
    "channel_action": "refund",
    "batch_no": "000001",
    "voucher_no": "000007",
    "reference_no": "000000000031",
    "created_at": "2026-11-21T07:10:00.004000Z",
    "updated_at": "2026-11-21T07:10:09.120000Z",
    "finished_at": "2026-11-21T07:10:09.120000Z",
}
#: A refund answered 202: the channel accepted it and finishes it later.
PROCESSING_EXAMPLE: dict[str, Any] = {
    **_REFUND_EXAMPLE,
    "status": "PROCESSING",
    "channel_refund_no": None,
    "finished_at": None,
    "updated_at": "2026-11-21T07:10:00.004000Z",
}


class RefundState(StrEnum):
    """A refund's state as shown: a refund being sent (or sent again) is PROCESSING too."""

    PROCESSING = "PROCESSING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class ChannelAction(StrEnum):
    """How the money goes back at the channel."""

    REFUND = "refund"
    REVERSE = "reverse"


class SupervisorIn(BaseModel):
    """The supervisor approving a terminal's refund (required when the merchant says so)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"number": "900", "password": "supervisor-900"}]}
    )

    number: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,16}$")]
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class VoidIn(BaseModel):
    """Void (撤销) a payment of this terminal's open batch, approved by a supervisor."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"supervisor": {"number": "900", "password": "supervisor-900"}}]},
    )

    supervisor: SupervisorIn | None = Field(
        None, description="The approving supervisor; without it, the operator signed in must be a supervisor."
    )


class MerchantRefundIn(BaseModel):
    """Refund part or all of a paid order."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"amount_fen": 500, "out_refund_no": "R20261121000123-1", "reason": "one coffee returned"}]
        },
    )

    amount_fen: AmountFen = Field(description="Integer fen; at most what is left to refund.")
    out_refund_no: OutRefundNo = Field(
        description="Your refund number: 1-64 letters, digits, '_' or '-', unique per merchant. A retry with the "
        "same number and body is the same refund; with another body it is 422 `out_refund_no_reused`."
    )
    reason: Reason | None = Field(None, description="Shown to the customer by the channel where it can.")


class RefundIn(MerchantRefundIn):
    """A terminal refunds part or all of one of its paid payments."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "order_id": _ORDER,
                    "amount_fen": 500,
                    "out_refund_no": "R20261121000123-1",
                    "reason": "one coffee returned",
                    "supervisor": {"number": "900", "password": "supervisor-900"},
                }
            ]
        },
    )

    order_id: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = Field(
        None, description="The payment to refund: one this terminal took. Give this or `reference_no`."
    )
    reference_no: Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")] | None = Field(
        None, description="The payment's reference number (参考号), instead of `order_id`."
    )
    supervisor: SupervisorIn | None = Field(
        None, description="Required when the merchant's terminal refunds need a supervisor (403 otherwise)."
    )

    @model_validator(mode="after")
    def _names_one_payment(self) -> RefundIn:
        if (self.order_id is None) == (self.reference_no is None):
            raise ValueError("give either order_id or reference_no")
        return self


class RefundOut(BaseModel):
    """A refund. 200: final (SUCCEEDED, or FAILED with a `failure_code`). 202: still PROCESSING at the channel."""

    model_config = ConfigDict(json_schema_extra={"examples": [_REFUND_EXAMPLE]})

    refund_id: str
    order_id: str
    out_refund_no: str | None = Field(description="The requester's refund number; null for automatic refunds.")
    kind: RefundReason = Field(
        description="`requested` (a terminal or the merchant asked); `void` (a terminal voided the whole payment "
        "in its open batch: the order ends VOIDED); `duplicate_payment` or `paid_after_close`: the gateway gave back "
        "an extra payment of the order on its own (neither of these counts in its `refunded_fen`)."
    )
    channel: Channel
    amount_fen: int
    reason: str | None
    status: RefundState = Field(
        description="PROCESSING until the channel finishes it (also while it is being sent or sent again)."
    )
    channel_refund_no: str | None = Field(description="The channel's refund number, once it gave one.")
    failure_code: str | None = Field(
        description="Why a FAILED refund failed: `refund_rejected` (e.g. the merchant's balance is too low), "
        "`refund_failed_at_channel`, `channel_trade_not_found`, `channel_rejected_request` or `channel_failure`."
    )
    failure_detail: str | None = Field(description="What the channel said, for people.")
    terminal_id: str | None = Field(description="The terminal that asked; null for the merchant API.")
    operator_id: str | None = Field(description="The operator signed in on that terminal.")
    supervisor_id: str | None = Field(description="The supervisor who approved it.")
    channel_action: ChannelAction = Field(
        description="What the channel was asked: `refund`, or `reverse` (a void of a micropay its channel still "
        "reverses: WeChat reverse up to 7 days, Alipay cancel up to 24 hours, UnionPay cancel the same Beijing day)."
    )
    batch_no: str | None = Field(description="批次号 of the batch it was made in; null for the merchant API.")
    voucher_no: str | None = Field(description="凭证号, its own voucher number on the terminal.")
    reference_no: str | None = Field(description="参考号, unique per merchant.")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, refund: Refund) -> RefundOut:
        return cls(
            refund_id=refund.id,
            order_id=refund.order_id,
            out_refund_no=refund.merchant_refund_no,
            kind=refund.reason,
            channel=refund.channel,
            amount_fen=refund.amount_fen,
            reason=refund.description,
            status=RefundState(refund.status.shown.value),
            channel_refund_no=refund.channel_refund_no,
            failure_code=refund.failure_code,
            failure_detail=refund.failure_detail,
            terminal_id=refund.terminal_id,
            operator_id=refund.operator_id,
            supervisor_id=refund.supervisor_id,
            channel_action=ChannelAction.REVERSE if refund.via_reverse else ChannelAction.REFUND,
            batch_no=refund.batch_no,
            voucher_no=refund.voucher_no,
            reference_no=refund.reference_no,
            created_at=refund.created_at,
            updated_at=refund.updated_at,
            finished_at=refund.finished_at,
        )


class RefundPageOut(BaseModel):
    """One page of refunds, newest first; pass `next_cursor` as `cursor` for the next page."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_REFUND_EXAMPLE], "next_cursor": None}]})

    items: list[RefundOut]
    next_cursor: str | None


class OrderRefundsOut(BaseModel):
    """An order's refunds, oldest first, and what is left to refund."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": _ORDER,
                    "status": "PARTIALLY_REFUNDED",
                    "amount_fen": 1250,
                    "refunded_fen": 500,
                    "refundable_fen": 750,
                    "items": [_REFUND_EXAMPLE],
                }
            ]
        }
    )

    order_id: str
    status: OrderStatus
    amount_fen: int
    refunded_fen: int = Field(description="What requested refunds gave back (SUCCEEDED).")
    refundable_fen: int = Field(description="What a new refund may still ask for: paid minus succeeded and processing.")
    items: list[RefundOut]

    @classmethod
    def of(cls, order: Order, refunds: list[Refund]) -> OrderRefundsOut:
        refundable = order.amount_fen - order.refund_reserved_fen if order.status in REFUNDABLE else 0
        return cls(
            order_id=order.id,
            status=order.status,
            amount_fen=order.amount_fen,
            refunded_fen=order.refunded_fen,
            refundable_fen=refundable,
            items=[RefundOut.of(refund) for refund in refunds],
        )
