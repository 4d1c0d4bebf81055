"""C-scan-B: the terminal's QR API, its images, the aggregate code's landing page and the channels' notifications."""

from __future__ import annotations

import html
from pathlib import Path
from string import Template
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from gateway.api.deps import TERMINAL_AUTH, OrdersDep, QrImagesDep, QrPaymentsDep, TerminalDep, only_query_params
from gateway.api.payment_schemas import idempotency_key_header
from gateway.api.payments import CHARGE_CHECKS, IDEMPOTENT
from gateway.api.problems import problem_responses
from gateway.api.qr_schemas import QrPaymentIn, QrPaymentOut
from gateway.domain.errors import Conflict, NotFound
from gateway.services.idempotency import RequestKey, StoredResponse
from gateway.services.qr_images import (
    DEFAULT_MARGIN,
    DEFAULT_SIZE_PX,
    MAX_MARGIN,
    MAX_SIZE_PX,
    MIN_SIZE_PX,
    ImageFormat,
    QrImageSpec,
)
from gateway.services.qr_payments import AGGREGATE_PATH, NOTIFY_PATH, LandingKind, QrInput
from gateway.services.records import Order

router = APIRouter()

CREATED = 201
APP_NAMES = {"wechat": "WeChat", "alipay": "Alipay", "unionpay": "UnionPay (云闪付)"}
_PAGE = Template((Path(__file__).parent.parent / "web" / "page.html").read_text(encoding="utf-8"))


def qr_body(order: Order) -> dict[str, Any]:
    body = QrPaymentOut.model_validate(order).model_dump(mode="json")
    if order.code_url:
        body |= {f"qr_{fmt}_url": f"/v1/payments/{order.id}/qr.{fmt}" for fmt in ImageFormat}
    return body


def qr_answer(order: Order) -> StoredResponse:
    """The status and body a new code is answered with (and stored for retries), made once per answer."""
    return StoredResponse(CREATED, qr_body(order))


def qr_response(order: Order, status: int, replayed: bool = False) -> JSONResponse:
    return _json_response(StoredResponse(status, qr_body(order)), replayed)


def _json_response(response: StoredResponse, replayed: bool = False) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(response.body, status_code=response.status, headers=headers)


@router.post(
    "/v1/payments/qr",
    operation_id="createQrPayment",
    summary="Show a dynamic QR code for the customer to scan (C-scan-B)",
    tags=["Terminal payments"],
    status_code=CREATED,
    response_model=QrPaymentOut,
    responses=problem_responses(
        *TERMINAL_AUTH,
        *CHARGE_CHECKS,
        *IDEMPOTENT,
        "validation_error",
        "unknown_channel",
        "channel_not_configured",
        "invalid_expiry",
    ),
)
async def create_qr_payment(
    body: QrPaymentIn,
    qr_payments: QrPaymentsDep,
    terminal: TerminalDep,
    idempotency_key: Annotated[
        str | None, idempotency_key_header("Retries with the same key and body get the same order.")
    ] = None,
) -> JSONResponse:
    """A code for the terminal to show: one channel's own code (precreated at the channel now), or the gateway's
    aggregate code that any of the three wallets can scan (its `/q/` URL).

    **201** with the payment: `AWAITING_PAYMENT` with `code_url` and the image URLs, or `FAILED` with a
    `failure_code` when the channel refused to make a code. The result comes as a terminal event when the
    customer pays or the code expires (`expires_in_s`). Retries with the same `Idempotency-Key` (or the same
    `out_trade_no` and body) get the same order.
    """
    natural_key = f"qr:out_trade_no:{body.out_trade_no}"
    key = RequestKey.of(terminal.terminal_id, idempotency_key, natural_key, body.model_dump())
    request = QrInput(body.out_trade_no, body.amount_fen, body.channel, body.expires_in_s, body.description)
    answered = await qr_payments.answer_create(terminal, request, key, qr_answer)
    return _json_response(answered.response, answered.replayed)


@router.post(
    "/v1/payments/{order_id}/cancel",
    operation_id="cancelQrPayment",
    summary="Withdraw an unpaid QR code",
    tags=["Terminal payments"],
    response_model=QrPaymentOut,
    responses=problem_responses(
        *TERMINAL_AUTH, "payment_not_found", "not_a_qr_payment", "qr_code_being_created", "order_already_paid"
    ),
)
async def cancel_qr_payment(order_id: str, qr_payments: QrPaymentsDep, terminal: TerminalDep) -> JSONResponse:
    """Close an unpaid code at the channels and here (`CLOSED`); cancelling a closed or failed one again returns
    it as it is. A code paid meanwhile cannot be cancelled (409 `order_already_paid`): refund it instead.
    """
    order = await qr_payments.cancel(terminal, order_id)
    return qr_response(order, 200)


ImageSize = Annotated[int, Query(ge=MIN_SIZE_PX, le=MAX_SIZE_PX, description="Side of the image in pixels.")]
ImageMargin = Annotated[int, Query(ge=0, le=MAX_MARGIN, description="Quiet zone around the code, in modules.")]
_IMAGE_PROBLEMS = problem_responses(
    *TERMINAL_AUTH, "payment_not_found", "qr_code_unavailable", "validation_error", "unknown_parameter"
)


async def _qr_image(
    orders: OrdersDep,
    images: QrImagesDep,
    terminal: TerminalDep,
    order_id: str,
    image_format: ImageFormat,
    size: int,
    margin: int,
) -> Response:
    order = await orders.find_for_terminal(terminal.terminal_id, order_id)
    if order is None:
        raise NotFound(f"no payment {order_id} on this terminal", code="payment_not_found")
    if not order.code_url:
        raise Conflict(f"payment {order_id} has no QR code", code="qr_code_unavailable")
    image = await images.image(order.id, QrImageSpec(order.code_url, image_format, size, margin))
    return Response(image, media_type=image_format.media_type, headers={"Cache-Control": "private, max-age=300"})


@router.get(
    "/v1/payments/{order_id}/qr.png",
    operation_id="getQrPng",
    summary="The payment's QR code as a PNG",
    tags=["Terminal payments"],
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The PNG"}, **_IMAGE_PROBLEMS},
    dependencies=[only_query_params("size", "margin")],
)
async def get_qr_png(
    order_id: str,
    orders: OrdersDep,
    images: QrImagesDep,
    terminal: TerminalDep,
    size: ImageSize = DEFAULT_SIZE_PX,
    margin: ImageMargin = DEFAULT_MARGIN,
) -> Response:
    """The code of this terminal's QR payment as a PNG to show on the terminal's screen (signed GET)."""
    return await _qr_image(orders, images, terminal, order_id, ImageFormat.PNG, size, margin)


@router.get(
    "/v1/payments/{order_id}/qr.svg",
    operation_id="getQrSvg",
    summary="The payment's QR code as an SVG",
    tags=["Terminal payments"],
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}, "description": "The SVG"}, **_IMAGE_PROBLEMS},
    dependencies=[only_query_params("size", "margin")],
)
async def get_qr_svg(
    order_id: str,
    orders: OrdersDep,
    images: QrImagesDep,
    terminal: TerminalDep,
    size: ImageSize = DEFAULT_SIZE_PX,
    margin: ImageMargin = DEFAULT_MARGIN,
) -> Response:
    """The code of this terminal's QR payment as an SVG, scalable for any screen or print (signed GET)."""
    return await _qr_image(orders, images, terminal, order_id, ImageFormat.SVG, size, margin)


#: How each channel's notification is answered, taken and refused: (status, media type, body), as its adapter's
#: `notification_ack` makes them (a test holds the two together). The channel retries until it gets "taken".
NOTIFY_ANSWERS: dict[str, dict[bool, tuple[int, str, str]]] = {
    "wechat": {
        True: (
            200,
            "text/xml",
            "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>",
        ),
        False: (
            200,
            "text/xml",
            "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[FAIL]]></return_msg></xml>",
        ),
    },
    "alipay": {True: (200, "text/plain", "success"), False: (200, "text/plain", "fail")},
    "unionpay": {True: (200, "text/plain", "success"), False: (400, "text/plain", "fail")},
}


def _notify_responses() -> dict[int | str, dict[str, Any]]:
    """Each channel's two answers, as examples under their status and media type."""
    responses: dict[int | str, dict[str, Any]] = {}
    description = "The channel's own answer: `taken` ends its retries, `refused` makes it retry"
    for channel, answers in NOTIFY_ANSWERS.items():
        for taken, (status, media_type, body) in answers.items():
            content = responses.setdefault(status, {"description": description, "content": {}})["content"]
            media = content.setdefault(media_type, {"schema": {"type": "string"}, "examples": {}})
            outcome = "taken" if taken else "refused"
            media["examples"][f"{channel}_{outcome}"] = {"summary": f"{channel}: {outcome}", "value": body}
    return {**responses, **problem_responses("channel_not_found")}


@router.post(
    NOTIFY_PATH,
    operation_id="channelNotification",
    summary="A channel's payment notification (called by WeChat Pay, Alipay, UnionPay)",
    tags=["Channel callbacks"],
    response_class=Response,
    responses=_notify_responses(),
)
async def channel_notification(
    channel: Annotated[
        str, PathParam(description="The channel calling.", json_schema_extra={"enum": list(NOTIFY_ANSWERS)})
    ],
    request: Request,
    qr_payments: QrPaymentsDep,
) -> Response:
    """The channel tells the gateway a QR payment was paid, in its own format and signed its own way: WeChat Pay
    XML (`text/xml`, MD5 or HMAC-SHA256 `sign`), Alipay a form (`application/x-www-form-urlencoded`, RSA2
    `sign`), UnionPay JSON (`application/json`, RSA `signature`).

    A notification that verifies and matches its order (amount included) is applied once and answered with the
    channel's "taken" acknowledgement; anything else (a bad signature, an unknown order, a wrong amount, an
    unreadable body) changes nothing and gets its "refused" answer, and the gateway's own sweep decides the
    order. Not for terminals or merchants.
    """
    body = await request.body()
    ack = await qr_payments.handle_notification(channel, body, request.headers.get("content-type"))
    return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)


@router.get(AGGREGATE_PATH, include_in_schema=False)
async def open_aggregate_code(token: str, request: Request, qr_payments: QrPaymentsDep) -> Response:
    """The customer's phone opened an aggregate code: to the scanning app's payment, or a page saying what to do."""
    try:
        landing = await qr_payments.open_aggregate(token, request.headers.get("user-agent"))
    except NotFound:
        return page("Unknown code", "<p>This payment code does not exist. Ask the shop for a new one.</p>", 404)
    if landing.kind is LandingKind.TRY_AGAIN:
        return page("Try again", "<p>The payment service did not answer. Scan the code again.</p>", 503)
    amount = f'<p class="amount">&yen;{_yuan(landing.order.amount_fen)}</p>'
    if landing.kind is LandingKind.PAY and landing.pay_url is not None:
        return RedirectResponse(landing.pay_url, status_code=302)
    if landing.kind is LandingKind.PAID:
        return page("Paid", f"{amount}<p>This code has been paid. Thank you.</p>")
    if landing.kind is LandingKind.CLOSED:
        return page("Code expired", "<p>This payment code has expired. Ask the shop for a new one.</p>", 410)
    apps = "".join(f"<li>{html.escape(APP_NAMES.get(channel, channel))}</li>" for channel in landing.channels)
    choose = f"{amount}<p>Scan this code with one of these apps to pay:</p><ul>{apps}</ul>"
    return page("Open with a wallet app", choose)


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    """A plain HTML page for a customer's phone; `body` is trusted markup, `title` is escaped."""
    return HTMLResponse(_PAGE.substitute(title=html.escape(title), body=body), status_code=status)


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"
