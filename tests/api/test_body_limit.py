"""The 64 KiB body limit counts the bytes as they arrive: a chunked 64 MiB body is cut off at the limit with 413,
the server's memory stays bounded, and the app never runs on a body it has only part of.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from gateway.api.middleware import RequestContextMiddleware
from gateway.app import MAX_BODY_BYTES, create_app
from gateway.config import Settings
from tests.support.servers import serve_app

MIB = 1024 * 1024
#: What a client streams at an endpoint: 64 MiB, a thousand times the limit.
STREAMED_BYTES = 1024 * MAX_BODY_BYTES
CHUNK_BYTES = 64 * 1024
#: How much the server process may grow while the 64 MiB comes at it (it grew by 300+ MiB reading it all).
RSS_GROWTH_BOUND = 50 * MIB


def rss_bytes() -> int:
    """This process's resident set size (the server runs in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def chunks(total: int) -> Iterator[bytes]:
    """`total` bytes of a JSON-looking body, one chunk at a time (never all in memory)."""
    yield b'{"amount_fen": 1, "auth_code": "'
    block = b"1" * CHUNK_BYTES
    for _ in range(total // CHUNK_BYTES):
        yield block


class Streamed:
    """What came back while a chunked body was streamed: the response bytes, how much was sent, RSS growth."""

    def __init__(self) -> None:
        self.response = b""
        self.sent = 0
        self.peak_growth = 0


async def stream_chunked(base_url: str, path: str, headers: dict[str, str]) -> Streamed:
    """POST a chunked 64 MiB body over a raw socket, sampling RSS as it goes; stop sending once an answer starts.

    The server closes the connection after its 413 with the body unread, so the connection may be reset: the
    sending side tolerates that, and the answer (a JSON problem) is read from what arrived before the reset.
    """
    url = urlsplit(base_url)
    assert url.hostname is not None and url.port is not None
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    result = Streamed()
    baseline = rss_bytes()
    head = [f"POST {path} HTTP/1.1", f"Host: {url.netloc}", "Transfer-Encoding: chunked"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())

    async def send_body() -> None:
        for chunk in chunks(STREAMED_BYTES):
            writer.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            await writer.drain()
            result.sent += len(chunk)
            result.peak_growth = max(result.peak_growth, rss_bytes() - baseline)
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    sending = asyncio.create_task(send_body())
    try:
        async with asyncio.timeout(60):
            # readuntil, unlike read, still gives what arrived before a reset.
            result.response = await reader.readuntil(b"\r\n\r\n")
            sending.cancel()
            result.response += await reader.readuntil(b"}")
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sending
        result.peak_growth = max(result.peak_growth, rss_bytes() - baseline)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return result


@pytest.fixture
async def gateway_url(settings: Settings) -> AsyncIterator[str]:
    async with serve_app(create_app(settings)) as url:
        yield url


BOGUS_SIGNATURE = {
    "Content-Type": "application/json",
    "X-Key-Id": "tk_bogus",
    "X-Timestamp": "1",
    "X-Nonce": "n",
    "X-Signature": "bogus",
}


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/notify/alipay", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("/v1/payments/micropay", BOGUS_SIGNATURE),
    ],
)
async def test_a_chunked_64_mib_body_is_cut_off_with_413_and_memory_stays_bounded(
    gateway_url: str, path: str, headers: dict[str, str]
) -> None:
    streamed = await stream_chunked(gateway_url, path, headers)

    head, _, body = streamed.response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413 "), streamed.response[:200]
    assert b"connection: close" in head.lower()
    assert json.loads(body)["code"] == "body_too_large"
    assert streamed.sent < STREAMED_BYTES, "the answer came before the client had sent everything"
    assert streamed.peak_growth < RSS_GROWTH_BOUND, f"the server grew by {streamed.peak_growth / MIB:.1f} MiB"


async def test_a_chunked_body_within_the_limit_reaches_the_handler(gateway_url: str) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"not-a-notification"

    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{gateway_url}/v1/notify/alipay",
            content=body(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert "content-length" not in response.request.headers  # it went chunked
    assert response.status_code not in (413, 500), response.text


class RecordingApp:
    """An ASGI app that records the body it read, then answers 204."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(body)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def post_in_pieces(app: RecordingApp, pieces: list[bytes], headers: dict[str, str]) -> httpx.Response:
    async def body() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    middleware = RequestContextMiddleware(app, max_body_bytes=100)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=middleware), base_url="http://t") as http:
        return await http.post("/upload", content=body(), headers=headers)


@pytest.mark.parametrize(
    ("pieces", "headers"),
    [
        ([b"x" * 60, b"x" * 41], {}),  # chunked, over by one in the second piece
        ([b"x" * 101], {"Content-Length": "10"}),  # a Content-Length that lies
        ([b"x" * 60, b"x" * 60], {"Content-Length": "junk"}),
    ],
)
async def test_the_app_never_runs_on_an_oversized_body(pieces: list[bytes], headers: dict[str, str]) -> None:
    app = RecordingApp()
    response = await post_in_pieces(app, pieces, headers)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["connection"] == "close"
    problem: dict[str, Any] = response.json()
    assert problem["code"] == "body_too_large" and "100 bytes" in problem["detail"]
    assert app.bodies == [], "the app did not run"


async def test_a_body_at_the_limit_reaches_the_app_whole() -> None:
    app = RecordingApp()
    response = await post_in_pieces(app, [b"a" * 30, b"b" * 30, b"c" * 40], {})
    assert response.status_code == 204
    assert app.bodies == [b"a" * 30 + b"b" * 30 + b"c" * 40]


async def test_a_client_that_leaves_mid_body_is_passed_on_as_a_disconnect() -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b"x" * 10, "more_body": True},
        {"type": "http.disconnect"},
    ]
    seen: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0)

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(await receive())

    async def send(message: Message) -> None:
        pass

    scope = {"type": "http", "method": "POST", "path": "/upload", "headers": []}
    await RequestContextMiddleware(inner, max_body_bytes=100)(scope, receive, send)
    assert seen == [{"type": "http.disconnect"}], "the app reads the disconnect, not the partial body"
