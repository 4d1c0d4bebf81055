"""RFC 9457 problem+json: the one place where errors become HTTP responses."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.domain.errors import Busy, Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unauthenticated

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


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For routers' `responses=`: error statuses documented with the Problem model (see `document_problems`)."""
    return {status: {"model": Problem, "description": HTTPStatus(status).phrase} for status in statuses}


def document_problems(spec: dict[str, Any]) -> dict[str, Any]:
    """Error responses are served as application/problem+json: say so in the spec instead of application/json."""
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for path in spec.get("paths", {}).values():
        for operation in path.values():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                responses = operation.setdefault("responses", {})
                responses.setdefault("400", {"description": "The body is not JSON (`malformed_json`)", "content": {}})
                responses["400"]["content"].setdefault("application/json", problem)
                unsupported = {"description": "The body was not sent as JSON (`unsupported_media_type`)"}
                responses.setdefault("415", {**unsupported, "content": {"application/json": problem}})
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:
                    content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
    return spec


def install_problem_handlers(app: FastAPI) -> None:
    """Map domain errors, validation errors and HTTP errors to problem+json; anything else is a logged 500."""

    @app.exception_handler(DomainError)
    async def domain_error(_request: Request, exc: DomainError) -> JSONResponse:
        status = next((code for kind, code in _STATUS_BY_KIND if isinstance(exc, kind)), 400)
        headers = {"WWW-Authenticate": "ApiKey"} if status == 401 else None
        if isinstance(exc, Busy):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return problem_response(status, exc.code, exc.detail, exc.title, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        unreadable = _unreadable_body(exc)
        if unreadable is not None:
            return unreadable
        errors = [
            {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")}
            for error in exc.errors()
        ]
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
