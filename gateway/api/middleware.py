"""ASGI middleware: request ids, access logs, metrics and the request-body size limit."""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.problems import PROBLEM_MEDIA_TYPE, problem_bytes
from gateway.observability import HTTP_LATENCY, HTTP_REQUESTS, request_id_var

log = logging.getLogger("gateway.http")


class RequestContextMiddleware:
    """Gives every request an id (from X-Request-ID or new), logs it, counts it, and refuses oversized bodies.

    The body is read here, counting bytes as they arrive whatever the framing (Content-Length, chunked, none), and
    the app runs only on a whole body of at most `max_body_bytes`: past the limit the answer is 413 and the app
    never sees the request. A Content-Length over the limit is refused before a byte of the body is read.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else secrets.token_hex(8)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            declared = headers.get(b"content-length")
            body = None
            if declared is None or not declared.isdigit() or int(declared) <= self.max_body_bytes:
                body = await _read_body(receive, self.max_body_bytes)
            if body is None:
                await _too_large(send_with_id, self.max_body_bytes)
            else:
                await self.app(scope, _replay(body, receive), send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            HTTP_LATENCY.labels(scope["method"], route).observe(elapsed)
            log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={"status": status, "duration_ms": round(elapsed * 1000, 2)},
            )
            request_id_var.reset(token)


def _route_template(scope: Scope) -> str:
    """The matched route's path template, so metrics do not get one label per order id."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


async def _read_body(receive: Receive, limit: int) -> list[Message] | None:
    """The request's receive messages up to its last body chunk (or a disconnect), the body joined into one
    message; None as soon as more than `limit` bytes have arrived (the rest is never read).
    """
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return [message]  # the client left before its body was whole: the app reads the disconnect
        chunk: bytes = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives the messages already read, then whatever comes next (a disconnect)."""
    pending = deque(messages)

    async def replayed() -> Message:
        return pending.popleft() if pending else await receive()

    return replayed


async def _too_large(send: Send, limit: int) -> None:
    """413, closing the connection: the unread rest of the body is dropped with it, not read to find the next
    request."""
    body = problem_bytes(413, "body_too_large", f"request bodies are limited to {limit} bytes")
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
