"""Request and response models of the C-scan-B terminal API, with the examples Swagger shows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from gateway.api.payment_schemas import AmountFen, OutTradeNo, PaymentOut
from gateway.domain.channels import Channel
from gateway.domain.qr import AGGREGATE, DEFAULT_EXPIRY_S, MAX_EXPIRY_S, MIN_EXPIRY_S

_QR_PAYMENT_EXAMPLE: dict[str, Any] = {
    "order_id": "ord_0192f3a1b2c3d4e5f6a7b8c9",
    "out_trade_no": "20261121000124",
    "channel": None,
    "status": "AWAITING_PAYMENT",
    "amount_fen": 1250,
    "refunded_fen": 0,
    "auth_code_masked": None,
    "channel_trade_no": None,
    "failure_code": None,
    "failure_detail": None,
    "paid_at": None,
    "created_at": "2026-11-21T06:30:01.004000Z",
    "batch_no": "000001",
    "voucher_no": "000124",
    "reference_no": "000000000124",
    "code_url": "https://pay.example.com/q/Yk3r8pVv0mJx2fQe9LhT1w",
    "expires_at": "2026-11-21T08:30:01.004000Z",
    "qr_png_url": "/v1/payments/ord_0192f3a1b2c3d4e5f6a7b8c9/qr.png",
    "qr_svg_url": "/v1/payments/ord_0192f3a1b2c3d4e5f6a7b8c9/qr.svg",
}


class QrPaymentIn(BaseModel):
    """Ask for a dynamic QR code the customer scans (C-scan-B)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "amount_fen": 1250,
                    "out_trade_no": "20261121000124",
                    "channel": "aggregate",
                    "expires_in_s": 300,
                    "description": "2 coffees",
                }
            ]
        },
    )

    amount_fen: AmountFen = Field(description="Integer fen (1/100 yuan).")
    out_trade_no: OutTradeNo = Field(description="Your order number: 1-32 letters and digits, unique per merchant.")
    channel: Annotated[str, StringConstraints(max_length=16)] = Field(
        description="`wechat`, `alipay` or `unionpay` for that channel's own code; `aggregate` for one gateway code "
        "that WeChat, Alipay and UnionPay can all scan.",
        json_schema_extra={"enum": [*(channel.value for channel in Channel), AGGREGATE]},
    )
    expires_in_s: StrictInt | None = Field(
        None,
        description=f"How long the code can be paid: {MIN_EXPIRY_S}-{MAX_EXPIRY_S} s, default {DEFAULT_EXPIRY_S} s. "
        "It is closed at the channel and locally when it expires.",
    )
    description: Annotated[str, StringConstraints(max_length=128)] = ""


class QrPaymentOut(PaymentOut):
    """A C-scan-B payment: the code to show and where its image is. The result comes as a terminal event."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_QR_PAYMENT_EXAMPLE]})

    code_url: str | None = Field(description="The QR content: the channel's code, or the gateway's /q/ URL.")
    expires_at: datetime | None
    qr_png_url: str | None = Field(None, description="The code as a PNG (signed GET; `size` and `margin` options).")
    qr_svg_url: str | None = Field(None, description="The code as an SVG (signed GET).")
