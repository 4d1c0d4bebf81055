"""Terminal payment API (signed requests): B-scan-C micropay, looking a payment up, operators signing in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from gateway.api.deps import TERMINAL_AUTH, AdmissionDep, OperatorsDep, OrdersDep, PaymentsDep, TerminalDep
from gateway.api.payment_schemas import (
    PAYING_EXAMPLE,
    MicropayIn,
    OperatorOut,
    OperatorSignInIn,
    PaymentOut,
    idempotency_key_header,
)
from gateway.api.problems import problem_responses
from gateway.domain.errors import NotFound
from gateway.services.idempotency import RequestKey, StoredResponse
from gateway.services.payments import MicropayInput
from gateway.services.records import Order

router = APIRouter(tags=["Terminal payments"])

PENDING = 202

#: A payment request's checks before its code is known (micropay, QR codes, scan sessions and camera codes).
CHARGE_CHECKS = ("operator_required", "invalid_amount", "amount_too_large", "over_single_limit", "over_daily_limit")
#: A request deduplicated by its Idempotency-Key or its out_trade_no.
IDEMPOTENT = ("invalid_idempotency_key", "idempotency_key_reused", "request_in_flight", "duplicate_out_trade_no")


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
        PENDING: {
            "model": PaymentOut,
            "description": "Still PAYING: the result follows as an event",
            "content": {"application/json": {"example": PAYING_EXAMPLE}},
        },
        **problem_responses(
            *TERMINAL_AUTH,
            *CHARGE_CHECKS,
            *IDEMPOTENT,
            "validation_error",
            "malformed_payment_code",
            "unsupported_payment_code",
            "channel_not_configured",
            "payment_code_used",
            "busy",
        ),
    },
    dependencies=[Depends(micropay_slot)],
)
async def micropay(
    body: MicropayIn,
    payments: PaymentsDep,
    terminal: TerminalDep,
    idempotency_key: Annotated[
        str | None, idempotency_key_header("Retries with the same key and body get the first answer.")
    ] = None,
) -> JSONResponse:
    """Charge the payment code the cashier scanned from the customer's wallet, once.

    The wallet is known from the code (WeChat Pay, Alipay or UnionPay). **200**: the payment is final (`PAID`, or
    `FAILED` with a `failure_code`). **202**: still `PAYING` (the customer is entering a password); the result
    follows as a terminal event, or ask `GET /v1/payments/{order_id}`. A retry with the same `Idempotency-Key`
    (or, without one, the same `out_trade_no` and body) gets the first answer again, marked
    `Idempotent-Replayed: true`, and never charges twice. **503** `busy`: nothing was done, retry after
    `Retry-After` seconds.
    """
    key = RequestKey.of(terminal.terminal_id, idempotency_key, f"out_trade_no:{body.out_trade_no}", body.model_dump())
    request = MicropayInput(body.out_trade_no, body.amount_fen, body.auth_code, body.description)
    answered = await payments.answer_micropay(terminal, request, key, payment_answer)
    return _json_response(answered.response, answered.replayed)


@router.get(
    "/v1/payments/{order_id}",
    operation_id="getPayment",
    summary="A payment of this terminal",
    response_model=PaymentOut,
    responses={
        PENDING: {
            "model": PaymentOut,
            "description": "Still PAYING",
            "content": {"application/json": {"example": PAYING_EXAMPLE}},
        },
        **problem_responses(*TERMINAL_AUTH, "payment_not_found"),
    },
)
async def get_payment(order_id: str, orders: OrdersDep, terminal: TerminalDep) -> JSONResponse:
    """A payment this terminal took, as it stands: **200** when final, **202** while still `PAYING`.

    Another terminal's payment does not exist for this one (404).
    """
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
    responses=problem_responses(
        *TERMINAL_AUTH, "operator_sign_in_failed", "operator_locked", "operator_disabled", "validation_error"
    ),
)
async def sign_in_operator(body: OperatorSignInIn, operators: OperatorsDep, terminal: TerminalDep) -> OperatorOut:
    """An operator (cashier) of this terminal's merchant signs in with their number and password; the payments
    taken until they sign out carry their id. Merchants that require an operator refuse payments without one.
    Five wrong passwords in a row (GATEWAY_OPERATOR_MAX_FAILED_SIGN_INS) lock the operator for 15 minutes
    (GATEWAY_OPERATOR_LOCKOUT_S): `operator_locked` says until when, even to the right password.
    """
    operator = await operators.sign_in(terminal, body.number, body.password)
    return OperatorOut.model_validate(operator)


@router.delete(
    "/v1/terminal/operator",
    operation_id="signOutOperator",
    summary="Sign the operator out of this terminal",
    tags=["Terminal"],
    status_code=204,
    responses=problem_responses(*TERMINAL_AUTH),
)
async def sign_out_operator(operators: OperatorsDep, terminal: TerminalDep) -> Response:
    """The operator signed in on this terminal signs out (a repeat changes nothing)."""
    await operators.sign_out(terminal)
    return Response(status_code=204)
