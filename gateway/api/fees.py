"""Merchant API: the fee rate this merchant pays on each channel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import MERCHANT_AUTH, MerchantDep, _runtime_part
from gateway.api.problems import problem_responses
from gateway.domain.channels import Channel
from gateway.services.fees import FeeRate, FeeRates

router = APIRouter(prefix="/v1/fee-rates", tags=["Fees"])

FeeRatesDep = Annotated[FeeRates, _runtime_part("fee_rates")]


class FeeRateOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"channel": "wechat", "rate_bp": 60, "own": False}]})

    channel: Channel
    rate_bp: int = Field(description="Basis points of each payment's amount: 60 = 0.60 %.")
    own: bool = Field(description="The merchant's own rate; false: the channel's default (GATEWAY_FEE_RATE_BP).")

    @classmethod
    def of(cls, rate: FeeRate) -> FeeRateOut:
        return cls(channel=rate.channel, rate_bp=rate.rate_bp, own=rate.own)


class FeeRateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"rate_bp": 38}]})

    rate_bp: int = Field(description="0 to 10,000 basis points (38 = 0.38 %).")


@router.get(
    "",
    operation_id="listFeeRates",
    summary="This merchant's fee rate on each channel",
    response_model=list[FeeRateOut],
    responses=problem_responses(*MERCHANT_AUTH),
)
async def list_rates(rates: FeeRatesDep, merchant: MerchantDep) -> list[FeeRateOut]:
    """A payment's fee is its amount x the rate, rounded half up to the fen (under 1 fen: 0), written when the
    payment arrives; a refund gives back its share where the channel does (`GATEWAY_REFUND_RETURNS_FEE`)."""
    return [FeeRateOut.of(rate) for rate in await rates.of_merchant(merchant.id)]


@router.put(
    "/{channel}",
    operation_id="setFeeRate",
    summary="Set this merchant's fee rate on one channel",
    response_model=FeeRateOut,
    responses=problem_responses(*MERCHANT_AUTH, "validation_error", "invalid_fee_rate"),
)
async def set_rate(channel: Channel, body: FeeRateIn, rates: FeeRatesDep, merchant: MerchantDep) -> FeeRateOut:
    """From the next payment on; payments already made keep the fee they were charged."""
    return FeeRateOut.of(await rates.set_rate(merchant.id, channel, body.rate_bp))
