"""RFC 9457 problem+json: the one place where errors become HTTP responses, and where the spec shows each one."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.domain.errors import (
    Busy,
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    MalformedPaymentCode,
    NotFound,
    Unauthenticated,
    UnsupportedPaymentCode,
)
from gateway.domain.money import DEFAULT_MAX_AMOUNT_FEN
from gateway.domain.signing import SIGNATURE_WINDOW_S

PROBLEM_MEDIA_TYPE = "application/problem+json"

log = logging.getLogger(__name__)

_STATUS_BY_KIND: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (Busy, 503),
)


def status_of(kind: type[DomainError]) -> int:
    """The HTTP status a kind of domain error is answered with."""
    return next((status for base, status in _STATUS_BY_KIND if issubclass(kind, base)), 400)


class Problem(BaseModel):
    """An error: `code` is stable and machine-readable, `detail` explains this occurrence."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/order_not_found",
                    "title": "Not found",
                    "status": 404,
                    "detail": "no order ord_0192f3a1b2c3d4e5f6a7b8c9",
                    "code": "order_not_found",
                }
            ]
        }
    )

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class Documented:
    """How the spec shows one problem code: its status and title, and a detail worded as the gateway words it."""

    status: int
    detail: str
    title: str | None = None  # None: the status phrase
    extra: Mapping[str, Any] = field(default_factory=dict)

    def body(self, code: str) -> dict[str, Any]:
        return problem_body(self.status, code, self.detail, self.title, **self.extra)


def _raised(kind: type[DomainError], detail: str) -> Documented:
    """A problem raised as a domain error of this kind (its status and title are the handler's)."""
    return Documented(status_of(kind), detail, kind.title)


_ORDER = "ord_0192f3a1b2c3d4e5f6a7b8c9"
_SESSION = "scn_0192f3a1b2c3d4e5f6a7b8c9"
_REFUND = "rfd_0192f3a1b2c3d4e5f6a7b8d0"
_OPERATOR = "op_0192f3a1b2c3d4e5f6a7b8c9"
_VALIDATION_ERROR = {"loc": ["body", "out_trade_no"], "msg": "String should match pattern '^[A-Za-z0-9]{1,32}$'"}

#: Every problem code a route can answer with (routes list theirs with `problem_responses`).
PROBLEMS: dict[str, Documented] = {
    # 400, 415: bodies (documented on every JSON operation by `document_problems`)
    "malformed_json": Documented(
        400, "the body is not valid JSON: Expecting ',' delimiter at character 38", "Malformed JSON"
    ),
    "unsupported_media_type": Documented(
        415, "send the body as JSON, with Content-Type: application/json", "Unsupported media type"
    ),
    # 401: who is calling
    "missing_api_key": _raised(Unauthenticated, "send the merchant API key in the X-API-Key header"),
    "invalid_api_key": _raised(Unauthenticated, "the API key is not valid"),
    "missing_signature": _raised(
        Unauthenticated,
        "signed terminal requests carry X-Terminal-Key, X-Timestamp, X-Nonce, X-Signature; missing: X-Signature",
    ),
    "invalid_path": _raised(Unauthenticated, "the request path holds a control character"),
    "unknown_terminal_key": _raised(Unauthenticated, "unknown terminal key"),
    "invalid_signature": _raised(Unauthenticated, "the signature does not match the request"),
    "invalid_timestamp": _raised(Unauthenticated, "X-Timestamp must be Unix seconds"),
    "stale_timestamp": _raised(
        Unauthenticated, f"X-Timestamp is more than {SIGNATURE_WINDOW_S} s from the gateway's clock"
    ),
    "invalid_nonce": _raised(Unauthenticated, "X-Nonce must be 16-64 letters, digits, '-' or '_'"),
    "replayed_nonce": _raised(Unauthenticated, "this nonce was used already"),
    "missing_camera_key": _raised(Unauthenticated, "send the camera key as 'Authorization: Bearer ck_...'"),
    "invalid_camera_key": _raised(Unauthenticated, "the camera key is not valid"),
    # 403: allowed to do this?
    "operator_required": _raised(Forbidden, "this merchant requires an operator signed in on the terminal"),
    "operator_sign_in_failed": _raised(Forbidden, "operator number or password is wrong"),
    "operator_locked": _raised(
        Forbidden,
        "operator 001 is locked until 2026-11-21T06:45:00Z after 5 wrong passwords in a row; a new password unlocks it",
    ),
    "operator_disabled": _raised(Forbidden, "operator 001 is disabled"),
    "other_terminal": _raised(Forbidden, "a terminal reads only its own events"),
    "supervisor_required": _raised(
        Forbidden, "this merchant's terminal refunds need a supervisor's number and password"
    ),
    # 404
    "order_not_found": _raised(NotFound, f"no order {_ORDER}"),
    "payment_not_found": _raised(NotFound, f"no payment {_ORDER} on this terminal"),
    "scan_session_not_found": _raised(NotFound, f"no scan session {_SESSION} on this terminal"),
    "transaction_not_found": _raised(NotFound, "no transaction with voucher number 000123 in the open batch"),
    "settlement_not_found": _raised(NotFound, "this terminal has not settled a batch yet"),
    "reconciliation_not_found": _raised(NotFound, "no reconciliation rcn_0192f3a1b2c3d4e5f6a7b8c9"),
    "webhook_not_set": _raised(NotFound, "no notify URL is set"),
    "channel_not_found": _raised(NotFound, "no channel paypal on this gateway"),
    "refund_not_found": _raised(NotFound, f"no refund {_REFUND}"),
    "operator_not_found": _raised(NotFound, f"no operator {_OPERATOR}"),
    # 409: the request clashes with what is already there
    "request_in_flight": _raised(Conflict, "the first request with this key is still being processed"),
    "duplicate_out_trade_no": _raised(Conflict, "out_trade_no 20261121000123 is already used"),
    "payment_code_used": _raised(Conflict, "this payment code was already used; ask for a fresh one"),
    "order_already_paid": _raised(Conflict, f"payment {_ORDER} is already paid"),
    "not_a_qr_payment": _raised(Conflict, "only a QR payment can be cancelled"),
    "qr_code_unavailable": _raised(Conflict, f"payment {_ORDER} has no QR code"),
    "qr_code_being_created": _raised(Conflict, "the code is still being created; try again"),
    "scan_session_open": _raised(
        Conflict, f"scan session {_SESSION} is still open on this terminal; cancel it or wait for it to end"
    ),
    "scan_session_charging": _raised(Conflict, "a payment code is being charged for this session"),
    "scan_session_charged": _raised(Conflict, f"this session was already charged as order {_ORDER}"),
    "scan_session_busy": _raised(Conflict, "another code is being charged for this session"),
    "no_open_session": _raised(Conflict, "no scan session is open on this camera's terminal"),
    "order_not_refundable": _raised(Conflict, "an order that is PAYING cannot be refunded"),
    "order_not_voidable": _raised(
        Conflict, "an order that is PARTIALLY_REFUNDED cannot be voided (only a PAID payment with no refund)"
    ),
    "batch_settled": _raised(
        Conflict,
        f"payment {_ORDER} belongs to batch 000003, which is settled (the open batch is 000004): it can no longer "
        "be voided; refund it with POST /v1/refunds",
    ),
    "batch_in_flight": Documented(
        409,
        "1 transaction(s) of batch 000001 are not finished: wait for their results, and cancel unpaid codes "
        "(POST /v1/payments/{order_id}/cancel) before settling",
        Conflict.title,
        {
            "transactions": [
                {
                    "kind": "payment",
                    "id": _ORDER,
                    "payment_kind": "qr",
                    "status": "AWAITING_PAYMENT",
                    "voucher_no": "000007",
                    "amount_fen": 1250,
                    "cancel": f"POST /v1/payments/{_ORDER}/cancel",
                }
            ]
        },
    ),
    "receipt_not_available": _raised(Conflict, f"payment {_ORDER} is PAYING: a slip prints only once it is paid"),
    "operator_exists": _raised(Conflict, "operator number 001 is taken"),
    # 422: well-formed, but the values break a rule
    "validation_error": Documented(
        422,
        f"{'.'.join(_VALIDATION_ERROR['loc'])}: {_VALIDATION_ERROR['msg']}",
        "Invalid request",
        {"errors": [{**_VALIDATION_ERROR, "type": "string_pattern_mismatch"}]},
    ),
    "unknown_parameter": _raised(InvalidInput, "unknown query parameter(s): sort"),
    "invalid_cursor": _raised(InvalidInput, "the cursor is not one this API gave out"),
    "invalid_amount": _raised(InvalidInput, "amount_fen must be at least 1 fen"),
    "future_date": _raised(InvalidInput, "2026-12-04 has not begun in Beijing yet (today is 2026-12-03)"),
    "date_out_of_range": _raised(InvalidInput, "1999-12-31 is before 2000-01-01: no records go back so far"),
    "invalid_fee_rate": _raised(InvalidInput, "a fee rate is 0 to 10000 basis points, not 12000"),
    "amount_too_large": _raised(InvalidInput, f"amount_fen must not exceed {DEFAULT_MAX_AMOUNT_FEN} fen"),
    "malformed_payment_code": _raised(MalformedPaymentCode, "a payment code is 16 to 24 ASCII digits"),
    "unsupported_payment_code": _raised(UnsupportedPaymentCode, "this payment code belongs to no supported wallet"),
    "not_payment_code": _raised(InvalidInput, "the code read is not a wallet payment code (16-24 digits)"),
    "unknown_channel": _raised(InvalidInput, "channel must be one of wechat, alipay, unionpay, aggregate"),
    "channel_not_configured": _raised(InvalidInput, "unionpay is not configured on this gateway"),
    "invalid_expiry": _raised(InvalidInput, "expires_in_s must be between 60 and 7200 seconds"),
    "over_single_limit": _raised(InvalidInput, "this terminal takes at most 50000 fen per payment"),
    "over_daily_limit": _raised(InvalidInput, "this terminal takes at most 2000000 fen a day"),
    "invalid_idempotency_key": _raised(InvalidInput, "Idempotency-Key must be 1-64 printable characters"),
    "idempotency_key_reused": _raised(InvalidInput, "this Idempotency-Key was used with a different request body"),
    "no_camera": _raised(InvalidInput, "this terminal has no camera; register one with `gateway cameras create`"),
    "invalid_webhook_url": _raised(InvalidInput, "the notify URL must not carry credentials"),
    "webhook_url_not_allowed": _raised(InvalidInput, "intranet.shop.example resolves to a private or reserved address"),
    "webhook_url_unresolvable": _raised(InvalidInput, "shop.invalid does not resolve"),
    "refund_exceeds_remaining": _raised(
        InvalidInput,
        "500 fen is more than the 250 fen left to refund (paid 1250, refunded or being refunded 1000)",
    ),
    "refund_window_closed": _raised(
        InvalidInput, "alipay takes refunds up to 90 days after the payment; this one was paid 2026-08-01"
    ),
    "too_many_refunds": _raised(InvalidInput, "this order already has 50 refunds, the most its channel takes"),
    "out_refund_no_reused": _raised(
        InvalidInput,
        f"out_refund_no R20261121000123-1 was used for another refund (refund {_REFUND} of order {_ORDER}, 500 fen)",
    ),
    "weak_password": _raised(InvalidInput, "operator password needs at least 6 characters"),
    # 503: nothing was done, retry
    "busy": _raised(Busy, "this gateway has 256 payments in flight; nothing was done, retry shortly"),
    "database_unavailable": Documented(503, "the database does not answer: connection refused"),
}


def problem_body(status: int, code: str, detail: str, title: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"/problems/{code}",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def problem_response(
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, code, detail, title, **extra),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def problem_bytes(status: int, code: str, detail: str) -> bytes:
    """The encoded body, for middleware that answers before FastAPI is reached."""
    return json.dumps(problem_body(status, code, detail)).encode()


def problem_responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """For routes' `responses=`: the problems a route can answer, by status, each code with its own example."""
    by_status: dict[int, dict[str, Documented]] = {}
    for code in codes:
        by_status.setdefault(PROBLEMS[code].status, {})[code] = PROBLEMS[code]
    return {status: {"model": Problem, **_response(status, found)} for status, found in sorted(by_status.items())}


def _response(status: int, problems: Mapping[str, Documented]) -> dict[str, Any]:
    """One status of an operation: which codes it is answered with, and an example body of each."""
    examples = {code: {"summary": problem.detail, "value": problem.body(code)} for code, problem in problems.items()}
    return {
        "description": f"{HTTPStatus(status).phrase}: {', '.join(f'`{code}`' for code in problems)}",
        "content": {"application/json": {"examples": examples}},
    }


def document_problems(spec: dict[str, Any], max_body_bytes: int) -> dict[str, Any]:
    """The problems of bodies (400 and 415 on JSON operations, 413 on any that takes a body), none of FastAPI's
    guessed 422s, and error responses as application/problem+json, the media type they are served as, each code's
    example once under components/examples.
    """
    examples = spec.setdefault("components", {}).setdefault("examples", {})
    too_large = {"body_too_large": Documented(413, f"request bodies are limited to {max_body_bytes} bytes")}
    for path in spec.get("paths", {}).values():
        for method, operation in path.items():
            responses = operation.setdefault("responses", {})
            guessed = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if guessed.get("$ref") == "#/components/schemas/HTTPValidationError":
                del responses["422"]  # FastAPI's for any route with parameters: routes list their own 422s
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                for code in ("malformed_json", "unsupported_media_type"):
                    status = PROBLEMS[code].status
                    responses.setdefault(str(status), _response(status, {code: PROBLEMS[code]}))
            if method in ("post", "put", "patch"):
                responses.setdefault("413", _response(413, too_large))
            for status, response in responses.items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:
                    media = {"schema": {"$ref": "#/components/schemas/Problem"}, **content.pop("application/json")}
                    for code, example in media.get("examples", {}).items():
                        examples[code] = example
                        media["examples"][code] = {"$ref": f"#/components/examples/{code}"}
                    content[PROBLEM_MEDIA_TYPE] = media
    for unused in ("HTTPValidationError", "ValidationError"):
        spec["components"].get("schemas", {}).pop(unused, None)
    return spec


def install_problem_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors and HTTP errors to problem+json; anything else is a logged 500."""

    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        status = status_of(type(exc))
        headers = {"WWW-Authenticate": "ApiKey"} if status == 401 else None
        if isinstance(exc, Busy):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return problem_response(status, exc.code, exc.detail, exc.title, headers=headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        unreadable = _unreadable_body(exc)
        if unreadable is not None:
            return unreadable
        errors = [
            {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")}
            for error in exc.errors()
        ]
        codes = {error["type"] for error in errors}
        if len(codes) == 1 and (code := codes.pop()) in PROBLEMS:  # a schema validator raised one of our problems
            detail = "; ".join(dict.fromkeys(error["msg"] for error in errors))
            return problem_response(PROBLEMS[code].status, code, detail, PROBLEMS[code].title)
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors) or "invalid request"
        return problem_response(422, "validation_error", detail, "Invalid request", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
        headers = exc.headers
        if exc.status_code == 405:  # the router names only the first route of the path: name them all
            allowed = ", ".join(_allowed_methods(request))
            headers = {**(headers or {}), "Allow": allowed}
            return problem_response(
                405, code, f"{request.method} is not allowed here; allowed: {allowed}", headers=headers
            )
        return problem_response(exc.status_code, code, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem_response(500, "internal_error", "the gateway failed; the request id identifies the log line")


def _unreadable_body(exc: RequestValidationError) -> JSONResponse | None:
    """A body that is not JSON (400) or not sent as JSON (415), instead of a validation error about `body`."""
    for error in exc.errors():
        location = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            reason = error.get("ctx", {}).get("error", "not JSON")
            where = f" at character {location[-1]}" if len(location) > 1 and isinstance(location[-1], int) else ""
            detail = f"the body is not valid JSON: {reason}{where}"
            return problem_response(400, "malformed_json", detail, "Malformed JSON")
        if location == ("body",) and isinstance(error.get("input"), bytes):  # FastAPI read it, but not as JSON
            detail = "send the body as JSON, with Content-Type: application/json"
            return problem_response(415, "unsupported_media_type", detail, "Unsupported media type")
    return None


def _allowed_methods(request: Request) -> list[str]:
    """Every method the spec gives this path (the routers are nested, the spec is flat and complete)."""
    table: list[tuple[re.Pattern[str], list[str]]] | None = getattr(request.app.state, "allowed_methods", None)
    if table is None:
        table = [
            (re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$"), sorted(m.upper() for m in ops))
            for path, ops in request.app.openapi().get("paths", {}).items()
        ]
        request.app.state.allowed_methods = table
    return sorted({method for pattern, methods in table if pattern.match(request.url.path) for method in methods})
