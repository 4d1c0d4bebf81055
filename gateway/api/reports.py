"""Merchant API: daily reports of a Beijing business day, as JSON, CSV or a printable page."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from gateway.api.deps import MERCHANT_AUTH, MerchantDep, _runtime_part, only_query_params
from gateway.api.problems import problem_responses
from gateway.domain.reports import render_csv, render_html
from gateway.services.reports import ReportService

router = APIRouter(prefix="/v1/reports", tags=["Reports"])

ReportsDep = Annotated[ReportService, _runtime_part("reports")]


class ReportFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"


_TOTAL_EXAMPLE = {
    "payments": {"count": 3, "amount_fen": 4500},
    "voids": {"count": 0, "amount_fen": 0},
    "refunds": {"count": 1, "amount_fen": 500},
    "fees_fen": 24,
    "net_fen": 3976,
}
_EXAMPLE: dict[str, Any] = {
    "merchant_id": "mch_0192f3a1b2c3d4e5f6a7b8c9",
    "date": "2026-12-02",
    "rows": [
        {
            "store_id": "sto_0192f3a1b2c3d4e5f6a7b8c9",
            "store_name": "Main street",
            "terminal_id": "trm_0192f3a1b2c3d4e5f6a7b8c9",
            "terminal_name": "Till 1",
            "channel": "wechat",
            **_TOTAL_EXAMPLE,
        }
    ],
    "total": _TOTAL_EXAMPLE,
}


def _chosen(format: ReportFormat | None, accept: str | None) -> ReportFormat:
    if format is not None:
        return format
    wanted = (accept or "").lower()
    if "text/csv" in wanted:
        return ReportFormat.CSV
    if "text/html" in wanted:
        return ReportFormat.HTML
    return ReportFormat.JSON


@router.get(
    "/daily",
    operation_id="dailyReport",
    summary="A Beijing business day's takings per store, terminal and channel",
    response_class=Response,
    dependencies=[only_query_params("date", "format")],
    responses={
        200: {
            "description": "The report: JSON (the default), CSV (`format=csv` or `Accept: text/csv`; amounts in fen) "
            "or a printable HTML page (`format=html` or `Accept: text/html`; amounts in yuan)",
            "content": {
                "application/json": {"example": _EXAMPLE},
                "text/csv": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
            },
        },
        **problem_responses(
            *MERCHANT_AUTH, "validation_error", "unknown_parameter", "future_date", "date_out_of_range"
        ),
    },
)
async def daily_report(
    reports: ReportsDep,
    merchant: MerchantDep,
    day: Annotated[date, Query(alias="date", description="The Beijing business day, YYYY-MM-DD.")],
    format: Annotated[ReportFormat | None, Query(description="Overrides the Accept header.")] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Payments whose money arrived on the day (also those refunded or voided since), and refunds and voids that
    succeeded on it (a refund counts on the day it finished), per store, terminal and channel, with the fees
    (charged less given back) and the net; today's is the day so far. A later day is 422 `future_date`; a day
    with nothing is a report of zeros."""
    report = await reports.daily(merchant.id, day)
    chosen = _chosen(format, accept)
    if chosen is ReportFormat.CSV:
        filename = f"daily-{day.isoformat()}.csv"
        return Response(
            render_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    if chosen is ReportFormat.HTML:
        return HTMLResponse(render_html(report))
    return JSONResponse(report.as_json())
