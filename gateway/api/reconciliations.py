"""Merchant API: reconcile a past Beijing day against the channels' bills, and read a reconciliation back."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import MERCHANT_AUTH, MerchantDep, _runtime_part
from gateway.api.problems import problem_responses
from gateway.domain.channels import Channel
from gateway.services.reconciliations import ReconciliationService, reconciliation_view

router = APIRouter(prefix="/v1/reconciliations", tags=["Reconciliation"])

ReconciliationsDep = Annotated[ReconciliationService, _runtime_part("reconciliations")]

_DIFFERENCE: dict[str, Any] = {
    "kind": "amount_differs",
    "channel": "wechat",
    "what": "payment",
    "out_trade_no": "ord0192f3a1b2c3d4e5f6a7b8c9",
    "order_id": "ord_0192f3a1b2c3d4e5f6a7b8c9",
    "refund_id": None,
    "merchant_id": "mch_0192f3a1b2c3d4e5f6a7b8c9",
    "ours": {"amount_fen": 1250, "fee_fen": 8, "status": "PAID"},
    "theirs": {"amount_fen": 1251, "fee_fen": 8, "status": "SUCCESS", "channel_trade_no": "4200001234"},
    "line_no": 7,
    "todo": "the amounts differ: compare the channel's trade with the order and raise it with the channel",
}
_EXAMPLE: dict[str, Any] = {
    "reconciliation_id": "rcn_0192f3a1b2c3d4e5f6a7b8c9",
    "date": "2026-12-02",
    "channel": "wechat",
    "status": "completed",
    "bill_lines": 42,
    "counts": {"amount_differs": 1},
    "differences": [_DIFFERENCE],
    "bad_lines": [],
    "detail": None,
    "created_at": "2026-12-03T01:30:00Z",
}


class ReconciliationOut(BaseModel):
    """One channel's bill of one day matched against our records."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    reconciliation_id: str
    date: str
    channel: Channel
    status: str = Field(
        description="`completed`; `no_bill` (the channel has no bill for the day yet); `unavailable` (the channel "
        "did not answer, or its bill could not be read at all: try again)"
    )
    bill_lines: int
    counts: dict[str, int] = Field(description="Differences per kind (only kinds found are listed).")
    differences: list[dict[str, Any]] = Field(
        description="`missing_here`, `missing_at_channel`, `amount_differs`, `status_differs` or `fee_differs`, "
        "with our side, the channel's, the bill line and what to do; those a query of the channel settled are "
        "repaired and not listed."
    )
    bad_lines: list[dict[str, Any]] = Field(description="Bill lines that could not be read, by line number.")
    detail: str | None = Field(
        None, description="`no_bill` or `unavailable`: what the channel said, or why its bill could not be read."
    )
    created_at: str


class ReconciliationsOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reconciliations": [_EXAMPLE]}]})

    reconciliations: list[ReconciliationOut]


class ReconcileIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"date": "2026-12-02"}]})

    date: dt.date = Field(description="A Beijing business day that has ended.")
    channel: Channel | None = Field(None, description="One channel; default: every channel configured.")


@router.post(
    "",
    operation_id="reconcile",
    summary="Reconcile a past day against the channels' bills",
    status_code=201,
    response_model=ReconciliationsOut,
    responses=problem_responses(
        *MERCHANT_AUTH, "validation_error", "future_date", "date_out_of_range", "channel_not_configured"
    ),
)
async def reconcile(body: ReconcileIn, reconciliations: ReconciliationsDep, merchant: MerchantDep) -> Any:
    """Download each channel's bill of the day, match it against the gateway's payments and refunds, repair what
    asking the channel settles, and list the rest (this merchant's orders, and lines no order has)."""
    done = await reconciliations.reconcile_days([body.date], body.channel)
    return {"reconciliations": [reconciliation_view(record, merchant.id) for record in done]}


@router.get(
    "/{reconciliation_id}",
    operation_id="getReconciliation",
    summary="One reconciliation",
    response_model=ReconciliationOut,
    responses=problem_responses(*MERCHANT_AUTH, "reconciliation_not_found"),
)
async def get_reconciliation(reconciliation_id: str, reconciliations: ReconciliationsDep, merchant: MerchantDep) -> Any:
    """A reconciliation made before (by the API, `gateway reconcile` or the daily job), as this merchant sees it."""
    return reconciliation_view(await reconciliations.get(reconciliation_id), merchant.id)
