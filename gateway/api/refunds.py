"""Refunds: terminals refund their payments (signed), merchants refund and list (API key), channels notify."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, Security
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from gateway.api.deps import (
    MERCHANT_AUTH,
    TERMINAL_AUTH,
    MerchantDep,
    MerchantsDep,
    TerminalDep,
    TerminalsDep,
    _runtime_part,
    api_key_header,
    current_merchant,
    current_terminal,
    only_query_params,
)
from gateway.api.problems import problem_responses
from gateway.api.qr import _notify_responses
from gateway.api.refund_schemas import (
    PROCESSING_EXAMPLE,
    MerchantRefundIn,
    OrderRefundsOut,
    RefundIn,
    RefundOut,
    RefundPageOut,
    RefundState,
    SupervisorIn,
    VoidIn,
)
from gateway.domain.channels import Channel
from gateway.domain.refunds import RefundStatus
from gateway.services.records import Merchant, Refund
from gateway.services.refunds import (
    REFUND_NOTIFY_PATH,
    RefundAsk,
    RefundFilter,
    RefundService,
    Requested,
    Requester,
    Supervisor,
)
from gateway.services.terminals import TerminalContext

router = APIRouter()

RefundsDep = Annotated[RefundService, _runtime_part("refunds")]

PROCESSING = 202
#: Every refusal of a refund request, checked before the channel is called (nothing is written).
REFUND_RULES = (
    "validation_error",
    "invalid_amount",
    "amount_too_large",
    "order_not_refundable",
    "refund_exceeds_remaining",
    "refund_window_closed",
    "too_many_refunds",
    "out_refund_no_reused",
    "channel_not_configured",
)
#: The supervisor's approval of a terminal refund (the operator checks: wrong password, lockout, a cashier).
SUPERVISOR_CHECKS = ("supervisor_required", "operator_sign_in_failed", "operator_locked", "operator_disabled")
_LIST_PARAMS = ("status", "channel", "created_from", "created_to", "limit", "cursor")


def _refund_responses(*problems: str, created: bool = False) -> dict[int | str, dict[str, Any]]:
    still = "accepted, still PROCESSING at the channel" if created else "still PROCESSING at the channel"
    return {
        200: {"description": "The refund is final: SUCCEEDED, or FAILED with a `failure_code`"},
        PROCESSING: {
            "model": RefundOut,
            "description": f"The refund was {still}: the result follows as a `refund.succeeded` or `refund.failed` "
            "event (and webhook)",
            "content": {"application/json": {"example": PROCESSING_EXAMPLE}},
        },
        **problem_responses(*problems),
    }


def refund_response(refund: Refund, replayed: bool = False) -> JSONResponse:
    """200 when the refund is final, 202 while it is processing; a repeat is marked `Idempotent-Replayed`."""
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    status = 200 if refund.status.is_final else PROCESSING
    return JSONResponse(RefundOut.of(refund).model_dump(mode="json"), status_code=status, headers=headers)


def _answer(requested: Requested) -> JSONResponse:
    return refund_response(requested.refund, requested.replayed)


_CONVENTION = """**200**: the refund is final: `SUCCEEDED`, or `FAILED` with a `failure_code` (the channel refused it;
the amount can be refunded again). **202**: the channel accepted it and finishes it later (`PROCESSING`): the result
follows as a `refund.succeeded` or `refund.failed` event on the terminal's stream and as a webhook, or ask
`GET /v1/refunds/{refund_id}`. A retry with the same `out_refund_no` and the same order, amount and reason gets the
same refund again, as it stands now, marked `Idempotent-Replayed: true`, and never refunds twice; another body is
422 `out_refund_no_reused`. Every rule is checked before the channel is called, and a refused request changes
nothing: the order must be `PAID` or `PARTIALLY_REFUNDED` (409 `order_not_refundable`); the refunds accepted and
processing never exceed what was paid, even when requests race (422 `refund_exceeds_remaining`); the channel's
refund window (WeChat 365 days, Alipay 90 days, UnionPay `GATEWAY_UNIONPAY_REFUND_WINDOW_DAYS`) must still be open
(422 `refund_window_closed`); WeChat takes at most 50 refunds per order (422 `too_many_refunds`)."""


@router.post(
    "/v1/orders/{order_id}/refunds",
    operation_id="createOrderRefund",
    summary="Refund part or all of an order",
    tags=["Orders"],
    response_model=RefundOut,
    responses=_refund_responses(*MERCHANT_AUTH, "order_not_found", *REFUND_RULES, created=True),
    description=f"Give back part or all of one of this merchant's paid orders.\n\n{_CONVENTION}",
)
async def create_order_refund(
    order_id: str, body: MerchantRefundIn, refunds: RefundsDep, merchant: MerchantDep
) -> JSONResponse:
    ask = RefundAsk(order_id, body.amount_fen, body.out_refund_no, body.reason)
    return _answer(await refunds.request(Requester(merchant.id), ask))


@router.get(
    "/v1/orders/{order_id}/refunds",
    operation_id="listOrderRefunds",
    summary="An order's refunds",
    tags=["Orders"],
    response_model=OrderRefundsOut,
    responses=problem_responses(*MERCHANT_AUTH, "order_not_found"),
)
async def list_order_refunds(order_id: str, refunds: RefundsDep, merchant: MerchantDep) -> OrderRefundsOut:
    """Every refund of one of this merchant's orders, oldest first, with what was paid, refunded and is left.

    Automatic refunds (`kind` `duplicate_payment`, `paid_after_close`) are listed too: they gave back an extra
    payment, so they count neither in `refunded_fen` nor against `refundable_fen`.
    """
    found = await refunds.of_order(merchant.id, order_id)
    return OrderRefundsOut.of(found.order, found.refunds)


async def merchant_or_terminal(
    request: Request,
    merchants: MerchantsDep,
    terminals: TerminalsDep,
    api_key: Annotated[str | None, Security(api_key_header)] = None,
) -> Merchant | TerminalContext:
    """The merchant whose API key this is; without one, the terminal that signed the request."""
    if api_key is not None or "x-terminal-key" not in request.headers:
        return await current_merchant(merchants, api_key)
    sent = request.headers
    return await current_terminal(
        request,
        terminals,
        sent["x-terminal-key"],
        sent.get("x-timestamp"),
        sent.get("x-nonce"),
        sent.get("x-signature"),
    )


@router.get(
    "/v1/refunds/{refund_id}",
    operation_id="getRefund",
    summary="One refund (merchant or terminal)",
    tags=["Orders"],
    response_model=RefundOut,
    responses=_refund_responses(*MERCHANT_AUTH, *TERMINAL_AUTH, "refund_not_found"),
)
async def get_refund(
    refund_id: str, refunds: RefundsDep, caller: Annotated[Merchant | TerminalContext, Depends(merchant_or_terminal)]
) -> JSONResponse:
    """A refund as it stands: **200** when final, **202** while `PROCESSING`.

    A merchant (API key) reads any of its refunds. A terminal signs the request instead (no API key) and reads the
    refunds of its own payments; any other refund does not exist for it (404).
    """
    if isinstance(caller, TerminalContext):
        return refund_response(await refunds.for_terminal(caller.terminal_id, refund_id))
    return refund_response(await refunds.for_merchant(caller.id, refund_id))


@router.get(
    "/v1/refunds",
    operation_id="listRefunds",
    summary="List refunds, newest first",
    tags=["Orders"],
    response_model=RefundPageOut,
    responses=problem_responses(*MERCHANT_AUTH, "validation_error", "unknown_parameter", "invalid_cursor"),
    dependencies=[only_query_params(*_LIST_PARAMS)],
)
async def list_refunds(
    refunds: RefundsDep,
    merchant: MerchantDep,
    status: RefundState | None = None,
    channel: Channel | None = None,
    created_from: Annotated[AwareDatetime | None, Query(description="Inclusive, with a timezone.")] = None,
    created_to: Annotated[AwareDatetime | None, Query(description="Exclusive, with a timezone.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page, as given (opaque).")
    ] = None,
) -> RefundPageOut:
    """This merchant's refunds of every order, newest first, filtered; pages follow `next_cursor` (null on the
    last page). Every filter narrows the list; an unknown query parameter is refused rather than ignored.
    """
    filters = RefundFilter(None if status is None else RefundStatus(status), channel, created_from, created_to)
    page = await refunds.list_refunds(merchant.id, filters, limit, cursor)
    return RefundPageOut(items=[RefundOut.of(refund) for refund in page.items], next_cursor=page.next_cursor)


@router.post(
    "/v1/refunds",
    operation_id="createRefund",
    summary="Refund part or all of a payment of this terminal (退货)",
    tags=["Terminal payments"],
    response_model=RefundOut,
    responses=_refund_responses(
        *TERMINAL_AUTH, "operator_required", *SUPERVISOR_CHECKS, "payment_not_found", *REFUND_RULES, created=True
    ),
    description=f"""Give back part or all of a payment this terminal took; the refund records the operator
signed in. When the merchant's terminal refunds need a supervisor, the body carries the supervisor's `number` and
`password` (403 `supervisor_required` without them, or when the operator is a cashier; the operator lockout applies).

{_CONVENTION}""",
)
async def create_refund(body: RefundIn, refunds: RefundsDep, terminal: TerminalDep) -> JSONResponse:
    supervisor = _supervisor(body.supervisor)
    ask = RefundAsk(body.order_id, body.amount_fen, body.out_refund_no, body.reason, body.reference_no)
    return _answer(await refunds.request(Requester.of_terminal(terminal, supervisor), ask))


def _supervisor(body: SupervisorIn | None) -> Supervisor | None:
    return None if body is None else Supervisor(body.number, body.password)


@router.post(
    "/v1/payments/{order_id}/void",
    operation_id="voidPayment",
    summary="Void a payment of this terminal's open batch (撤销)",
    tags=["Terminal payments"],
    response_model=RefundOut,
    responses=_refund_responses(
        *TERMINAL_AUTH,
        "operator_required",
        *SUPERVISOR_CHECKS,
        "payment_not_found",
        "order_not_voidable",
        "batch_settled",
        "channel_not_configured",
        created=True,
    ),
)
async def void_payment(order_id: str, body: VoidIn, refunds: RefundsDep, terminal: TerminalDep) -> JSONResponse:
    """Undo a payment of this terminal's **open batch**, always its whole amount, approved by a supervisor: their
    `number` and `password` in the body, or a supervisor signed in on the terminal (403 `supervisor_required`
    otherwise; a wrong password counts towards the operator lockout).

    The void is a transaction of its own, shown like a refund with `kind` `void`: its own voucher and reference
    numbers, the operator and the supervisor. A micropay is reversed at its channel while the channel still does
    that (`channel_action` `reverse`: WeChat reverse up to 7 days, Alipay cancel up to 24 hours, UnionPay cancel on
    the Beijing day of the payment); a dynamic-code payment, or a later micropay, is refunded in full
    (`channel_action` `refund`). **200**: final (`SUCCEEDED`: the order is now `VOIDED`; `FAILED`: it is still
    `PAID`). **202**: the channel finishes it later; a `void.succeeded` or `void.failed` event follows. Voiding a
    payment being voided or voided answers that void again, marked `Idempotent-Replayed: true`.

    Refused, with nothing changed: 409 `order_not_voidable` (not `PAID`, or a refund of it is under way or done: of
    a void and a refund at once exactly one is accepted), 409 `batch_settled` (the payment's batch is settled:
    refund it with `POST /v1/refunds`), 404 `payment_not_found` (not this terminal's).
    """
    return _answer(await refunds.void(terminal, order_id, _supervisor(body.supervisor)))


@router.post(
    REFUND_NOTIFY_PATH,
    operation_id="channelRefundNotification",
    summary="A channel's refund notification (called by WeChat Pay and UnionPay)",
    tags=["Channel callbacks"],
    response_class=Response,
    responses=_notify_responses(),
)
async def channel_refund_notification(
    channel: Annotated[
        str, PathParam(description="The channel calling.", json_schema_extra={"enum": ["wechat", "unionpay"]})
    ],
    request: Request,
    refunds: RefundsDep,
) -> Response:
    """The channel tells the gateway how a refund it accepted ended, at the notify URL the refund was sent with:
    WeChat Pay's XML with `req_info` encrypted (AES-256-ECB, keyed by the MD5 of the API key), UnionPay's signed
    JSON. (Alipay answers refunds at once and sends none.) A notification that verifies and matches its refund (amount
    included) is applied once and answered with the channel's "taken" acknowledgement; anything else changes
    nothing and gets its "refused" answer, and the gateway's refund queries decide. Not for terminals or merchants.
    """
    body = await request.body()
    ack = await refunds.handle_notification(channel, body, request.headers.get("content-type"))
    return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)
