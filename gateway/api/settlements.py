"""End of day (结算), signed terminal requests: settle the open batch, print the last settlement's slip."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.deps import TERMINAL_AUTH, TerminalDep, _runtime_part, only_query_params
from gateway.api.problems import problem_responses
from gateway.api.receipts import PRINTS_HEADER, FormatQuery, ReceiptFormat, printed_slip
from gateway.domain.settlements import render_settlement_html, render_settlement_text
from gateway.services.settlements import SettlementService

router = APIRouter(tags=["Terminal"])

SettlementsDep = Annotated[SettlementService, _runtime_part("settlements")]

_KIND_TOTAL: dict[str, Any] = {"count": 2, "amount_fen": 2250}
_CHANNEL_TOTAL: dict[str, Any] = {
    "payments": _KIND_TOTAL,
    "voids": {"count": 0, "amount_fen": 0},
    "refunds": {"count": 1, "amount_fen": 500},
    "fees_fen": 11,
    "net_fen": 1739,
}


class KindTotalOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_KIND_TOTAL]})

    count: int
    amount_fen: int


class ChannelTotalOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_CHANNEL_TOTAL]})

    payments: KindTotalOut = Field(description="消费: payments whose money arrived (also those refunded or voided).")
    voids: KindTotalOut = Field(description="撤销: voids that succeeded.")
    refunds: KindTotalOut = Field(description="退货: terminal refunds that succeeded (merchant API refunds are not "
                                  "a terminal's).")  # fmt: skip
    fees_fen: int = Field(description="The payments' fees less what the refunds and voids gave back.")
    net_fen: int = Field(description="payments - voids - refunds - fees.")


class BatchTotalsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"channels": {"wechat": _CHANNEL_TOTAL}, "total": _CHANNEL_TOTAL}]}
    )

    channels: dict[str, ChannelTotalOut]
    total: ChannelTotalOut


class SettlementOut(BaseModel):
    """A settled batch: its totals as written at the moment it was closed."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "settlement_id": "stl_0192f3a1b2c3d4e5f6a7b8c9",
                    "batch_no": "000001",
                    "next_batch_no": "000002",
                    "operator_id": "op_0192f3a1b2c3d4e5f6a7b8c9",
                    "settled_at": "2026-12-03T14:00:00Z",
                    "totals": {"channels": {"wechat": _CHANNEL_TOTAL}, "total": _CHANNEL_TOTAL},
                }
            ]
        }
    )

    settlement_id: str
    batch_no: str
    next_batch_no: str = Field(description="The batch the terminal's next transactions go into.")
    operator_id: str | None
    settled_at: datetime
    totals: BatchTotalsOut


@router.post(
    "/v1/terminal/settlement",
    operation_id="settleBatch",
    summary="Settle (结算) this terminal's open batch",
    status_code=201,
    response_model=SettlementOut,
    responses=problem_responses(*TERMINAL_AUTH, "operator_required", "batch_in_flight"),
)
async def settle(settlements: SettlementsDep, terminal: TerminalDep) -> SettlementOut:
    """Close the open batch: its totals per channel and kind (payments, voids, refunds: count and amount; fees;
    net) are written, the operator is signed out, and the next transactions go into the next batch (+1; 000001
    after 999999). Needs an operator signed in (403 `operator_required`). Refused with 409 `batch_in_flight` and
    the list of `transactions` while any payment, refund or void of the batch is unfinished (a `PAYING` micropay,
    a refund `PROCESSING`, a dynamic code not paid yet: its `cancel` names the request that withdraws it).
    A void of a payment of a settled batch is refused (409 `batch_settled`): refund it instead."""
    settled = await settlements.settle(terminal)
    record = settled.settlement
    return SettlementOut(
        settlement_id=record.id,
        batch_no=record.batch_no,
        next_batch_no=settled.next_batch_no,
        operator_id=record.operator_id,
        settled_at=record.settled_at,
        totals=BatchTotalsOut.model_validate(record.totals),
    )


_SLIP_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": f"The slip; `{PRINTS_HEADER}` counts its prints (2 and more: marked `*** 重打印 REPRINT ***`)",
        "content": {"text/plain": {"schema": {"type": "string"}}, "text/html": {"schema": {"type": "string"}}},
        "headers": {PRINTS_HEADER: {"schema": {"type": "integer", "minimum": 1}}},
    },
    **problem_responses(*TERMINAL_AUTH, "settlement_not_found", "validation_error", "unknown_parameter"),
}


@router.get(
    "/v1/terminal/settlement/last/slip",
    operation_id="printLastSettlementSlip",
    summary="The slip (结算总计单) of this terminal's last settlement",
    response_class=Response,
    responses=_SLIP_RESPONSES,
    dependencies=[only_query_params("format")],
)
async def last_settlement_slip(
    settlements: SettlementsDep, terminal: TerminalDep, format: FormatQuery = ReceiptFormat.TEXT
) -> Response:
    """The totals of the last settled batch, per channel and for the batch: 32 columns of text for a 58 mm
    printer, or a printable HTML page. The first print is the original, every later one a counted reprint.
    404 `settlement_not_found` before the first settlement."""
    printed = await settlements.last_slip(terminal)
    return printed_slip(
        printed.prints,
        format,
        lambda: render_settlement_text(printed.slip),
        lambda: render_settlement_html(printed.slip),
    )
