"""Terminal queries (signed requests): the last transaction, and one by voucher number or reference number."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from gateway.api.deps import TERMINAL_AUTH, TerminalDep, TransactionsDep, only_query_params
from gateway.api.payment_schemas import PAYING_EXAMPLE, PaymentOut
from gateway.api.payments import PENDING, payment_response
from gateway.api.problems import problem_responses

router = APIRouter(prefix="/v1/terminal/transactions", tags=["Terminal"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    PENDING: {
        "model": PaymentOut,
        "description": "Still not final after asking the channel",
        "content": {"application/json": {"example": PAYING_EXAMPLE}},
    },
}


@router.get(
    "/last",
    operation_id="getLastTransaction",
    summary="This terminal's last transaction",
    response_model=PaymentOut,
    responses={**_RESPONSES, **problem_responses(*TERMINAL_AUTH, "transaction_not_found")},
)
async def last_transaction(transactions: TransactionsDep, terminal: TerminalDep) -> JSONResponse:
    """The payment with this terminal's latest voucher number. When it is not final yet, the gateway asks the
    channel first and applies the answer: **200** final, **202** still not. 404 `transaction_not_found`: none yet.
    """
    return payment_response(await transactions.last(terminal))


@router.get(
    "",
    operation_id="findTransaction",
    summary="A transaction of this terminal by voucher or reference number",
    response_model=PaymentOut,
    responses={
        **_RESPONSES,
        **problem_responses(*TERMINAL_AUTH, "transaction_not_found", "validation_error", "unknown_parameter"),
    },
    dependencies=[only_query_params("voucher_no", "reference_no")],
)
async def find_transaction(
    transactions: TransactionsDep,
    terminal: TerminalDep,
    voucher_no: Annotated[str | None, Query(pattern="^[0-9]{6}$", description="凭证号, in the open batch.")] = None,
    reference_no: Annotated[str | None, Query(pattern="^[0-9]{12}$", description="参考号.")] = None,
) -> JSONResponse:
    """Exactly one of `voucher_no` (a transaction of this terminal's open batch) or `reference_no`. When it is
    not final yet, the gateway asks the channel first and applies the answer: **200** final, **202** still not.
    404 `transaction_not_found`: no such number on this terminal (another terminal's numbers are not found either).
    """
    return payment_response(await transactions.find(terminal, voucher_no, reference_no))
