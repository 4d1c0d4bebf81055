"""Terminal payment API (signed requests): B-scan-C micropay, looking a payment up, operators signing in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response
from fastapi.responses import JSONResponse

from gateway.api.deps import AdmissionDep, OrdersDep, PaymentsDep, TerminalDep, TerminalsDep
from gateway.api.payment_schemas import MicropayIn, OperatorOut, OperatorSignInIn, PaymentOut
from gateway.api.problems import problem_responses
from gateway.domain.errors import NotFound
from gateway.services.idempotency import RequestKey, StoredResponse
from gateway.services.payments import MicropayInput
from gateway.services.records import Order

router = APIRouter(tags=["Terminal payments"], responses=problem_responses(401, 422))

PENDING = 202


def payment_body(order: Order) -> dict[str, Any]:
    return PaymentOut.model_validate(order).model_dump(mode="json")


def payment_answer(order: Order) -> StoredResponse:
    """The status and body a payment request is answered with (and replayed from), made once per answer."""
    return StoredResponse(200 if order.status.is_final else PENDING, payment_body(order))


def payment_response(order: Order, replayed: bool = False) -> JSONResponse:
    return _json_response(payment_answer(order), replayed)


def _json_response(response: StoredResponse, replayed: bool = False) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(response.body, status_code=response.status, headers=headers)


async def micropay_slot(admission: AdmissionDep) -> AsyncIterator[None]:
    """One of the instance's micropay slots for the whole request, taken before anything else (503 if none is free)."""
    with admission.admit():
        yield


@router.post(
    "/v1/payments/micropay",
    operation_id="micropay",
    summary="Charge a customer's payment code (B-scan-C)",
    response_model=PaymentOut,
    responses={
        PENDING: {"model": PaymentOut, "description": "Still PAYING: the result follows as an event"},
        **problem_responses(403, 409, 503),
    },
    dependencies=[Depends(micropay_slot)],
)
async def micropay(
    body: MicropayIn,
    payments: PaymentsDep,
    terminal: TerminalDep,
    idempotency_key: Annotated[
        str | None, Header(description="Retries with the same key and body get the first answer.")
    ] = None,
) -> JSONResponse:
    key = RequestKey.of(terminal.terminal_id, idempotency_key, f"out_trade_no:{body.out_trade_no}", body.model_dump())
    request = MicropayInput(body.out_trade_no, body.amount_fen, body.auth_code, body.description)
    answered = await payments.answer_micropay(terminal, request, key, payment_answer)
    return _json_response(answered.response, answered.replayed)


@router.get(
    "/v1/payments/{order_id}",
    operation_id="getPayment",
    summary="A payment of this terminal",
    response_model=PaymentOut,
    responses={PENDING: {"model": PaymentOut, "description": "Still PAYING"}, **problem_responses(404)},
)
async def get_payment(order_id: str, orders: OrdersDep, terminal: TerminalDep) -> JSONResponse:
    order = await orders.find_for_terminal(terminal.terminal_id, order_id)
    if order is None:
        raise NotFound(f"no payment {order_id} on this terminal", code="payment_not_found")
    return payment_response(order)


@router.put(
    "/v1/terminal/operator",
    operation_id="signInOperator",
    summary="Sign an operator in on this terminal",
    tags=["Terminal"],
    response_model=OperatorOut,
    responses=problem_responses(403),
)
async def sign_in_operator(body: OperatorSignInIn, terminals: TerminalsDep, terminal: TerminalDep) -> OperatorOut:
    operator = await terminals.sign_in(terminal, body.number, body.password)
    return OperatorOut.model_validate(operator)


@router.delete(
    "/v1/terminal/operator",
    operation_id="signOutOperator",
    summary="Sign the operator out of this terminal",
    tags=["Terminal"],
    status_code=204,
)
async def sign_out_operator(terminals: TerminalsDep, terminal: TerminalDep) -> Response:
    await terminals.sign_out(terminal)
    return Response(status_code=204)
