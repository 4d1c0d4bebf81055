"""Receipts (签购单), signed terminal requests: a payment's, a refund's or void's, and the last transaction's slip."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from gateway.api.deps import TERMINAL_AUTH, ReceiptsDep, TerminalDep, only_query_params
from gateway.api.problems import problem_responses
from gateway.domain.receipts import ReceiptCopy, render_html, render_text
from gateway.services.receipts import Slip

router = APIRouter(tags=["Terminal"])

PRINTS_HEADER = "Receipt-Prints"


class ReceiptFormat(StrEnum):
    TEXT = "text"
    HTML = "html"


CopyQuery = Annotated[
    ReceiptCopy, Query(description="`merchant`: 商户存根, kept by the shop; `customer`: 顾客存根, handed over.")
]
FormatQuery = Annotated[
    ReceiptFormat, Query(description="`text`: 32 columns for a 58 mm printer (UTF-8); `html`: a printable page.")
]

_SLIP_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": f"The slip; the `{PRINTS_HEADER}` header says how many times this copy has now been printed "
        "(2 and more: marked `*** 重打印 REPRINT ***`)",
        "content": {"text/plain": {"schema": {"type": "string"}}, "text/html": {"schema": {"type": "string"}}},
        "headers": {PRINTS_HEADER: {"schema": {"type": "integer", "minimum": 1}}},
    },
    **problem_responses(
        *TERMINAL_AUTH, "transaction_not_found", "receipt_not_available", "validation_error", "unknown_parameter"
    ),
}
_ROUTE: dict[str, Any] = {
    "response_class": Response,
    "responses": _SLIP_RESPONSES,
    "dependencies": [only_query_params("copy", "format")],
}
_COUNTED = (
    "Each call prints: the first of a copy is the original, every later one a reprint, marked and counted. "
    "404 `transaction_not_found`: not a transaction of this terminal; 409 `receipt_not_available`: nothing to print "
    "yet (a payment not paid, a refund the channel has not accepted or refused)."
)


def printed_slip(prints: int, output: ReceiptFormat, text: Callable[[], str], page: Callable[[], str]) -> Response:
    """A slip as text or as an HTML page, with how many times it has been printed now."""
    headers = {PRINTS_HEADER: str(prints)}
    if output is ReceiptFormat.HTML:
        return HTMLResponse(page(), headers=headers)
    return PlainTextResponse(text(), headers=headers)


def _slip_response(slip: Slip, output: ReceiptFormat) -> Response:
    return printed_slip(slip.prints, output, lambda: render_text(slip.receipt), lambda: render_html(slip.receipt))


@router.get(
    "/v1/terminal/transactions/last/receipt",
    operation_id="printLastReceipt",
    summary="The receipt of this terminal's last transaction",
    description=f"The slip of the payment, refund or void this terminal numbered last. {_COUNTED}",
    **_ROUTE,
)
async def last_receipt(
    receipts: ReceiptsDep,
    terminal: TerminalDep,
    copy: CopyQuery = ReceiptCopy.CUSTOMER,
    format: FormatQuery = ReceiptFormat.TEXT,
) -> Response:
    return _slip_response(await receipts.of_last(terminal, copy), format)


@router.get(
    "/v1/terminal/transactions/{order_id}/receipt",
    operation_id="printPaymentReceipt",
    summary="The receipt of one of this terminal's payments",
    description=f"The 扫码消费 slip of a payment (`ord_...`), paid or later refunded or voided. {_COUNTED}",
    **_ROUTE,
)
async def payment_receipt(
    order_id: str,
    receipts: ReceiptsDep,
    terminal: TerminalDep,
    copy: CopyQuery = ReceiptCopy.CUSTOMER,
    format: FormatQuery = ReceiptFormat.TEXT,
) -> Response:
    return _slip_response(await receipts.of_payment(terminal, order_id, copy), format)


@router.get(
    "/v1/terminal/refunds/{refund_id}/receipt",
    operation_id="printRefundReceipt",
    summary="The receipt of one of this terminal's refunds or voids",
    description=f"The 扫码退货 slip of a refund or the 扫码撤销 slip of a void (`rfd_...`), with the original "
    f"payment's voucher and reference numbers. {_COUNTED}",
    **_ROUTE,
)
async def refund_receipt(
    refund_id: str,
    receipts: ReceiptsDep,
    terminal: TerminalDep,
    copy: CopyQuery = ReceiptCopy.CUSTOMER,
    format: FormatQuery = ReceiptFormat.TEXT,
) -> Response:
    return _slip_response(await receipts.of_refund(terminal, refund_id, copy), format)
