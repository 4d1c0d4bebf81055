"""End to end over real loopback HTTP and websockets: a generated video of a payment code streamed to the
gateway during a scan session is charged exactly once, and the result reaches the terminal's event stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from gateway.domain.codes import mask_payment_code
from tests.cameras.conftest import (
    charges,
    empty_frames,
    final_events,
    frame_socket,
    open_session,
    phone_video,
)
from tests.support.live import LiveGateway

FRAME_INTERVAL_S = 1 / 30


async def stream(live: LiveGateway, frames: list[bytes], quiet_s: float = 1.0) -> list[dict[str, Any]]:
    """Send the frames at a camera's pace; return every status message up to a pause of `quiet_s`."""
    async with frame_socket(live) as socket:
        ready = json.loads(await socket.recv())
        assert ready["type"] == "ready" and ready["camera_id"] == live.credentials["camera_id"]
        messages: list[dict[str, Any]] = []

        async def collect() -> None:
            async for raw in socket:
                messages.append(json.loads(raw))

        collector = asyncio.create_task(collect())
        for frame in frames:
            await socket.send(frame)
            await asyncio.sleep(FRAME_INTERVAL_S)
        seen = -1
        while seen != len(messages):
            seen = len(messages)
            await asyncio.sleep(quiet_s)
        collector.cancel()
    return messages


@contextlib.asynccontextmanager
async def terminal_stream(live: LiveGateway) -> AsyncIterator[ClientConnection]:
    """The demo terminal's event websocket (ticket from a signed call), resumed from the start."""
    ticket = await live.terminal.request("POST", "/v1/terminal/events/ticket")
    assert ticket.status_code == 201, ticket.text
    async with connect(live.url.replace("http://", "ws://") + ticket.json()["websocket_path"]) as socket:
        assert json.loads(await socket.recv())["type"] == "hello"
        await socket.send(json.dumps({"type": "resume", "after": 0}))
        yield socket


async def pushed_events(socket: ClientConnection, order_id: str, quiet_s: float = 1.0) -> list[str]:
    """The event types the terminal is pushed about the order, until the stream has been quiet a while."""
    seen: list[str] = []
    with contextlib.suppress(TimeoutError):
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), quiet_s))
            if message["type"] == "event" and message["order_id"] == order_id:
                seen.append(message["event"])
            elif message["type"] == "ping":
                await socket.send(json.dumps({"type": "pong"}))
    return seen


async def test_a_streamed_payment_code_video_charges_exactly_once(live: LiveGateway) -> None:
    code = await live.payment_code("wechat")
    opened = await open_session(live, 1250, description="2 coffees")
    assert opened.status_code == 201, opened.text
    session = opened.json()
    assert session["status"] == "OPEN" and session["payment"] is None

    # Nobody in front of the camera, then the customer holds the phone up for 40 frames (over a second).
    video = [*empty_frames(4), *phone_video(code, code, 40)]
    async with terminal_stream(live) as terminal_socket:
        messages = await stream(live, video)
        order_ids = {m.get("order_id") for m in messages if m["type"] == "code"}
        pushed = await pushed_events(terminal_socket, next(iter(order_ids)) if len(order_ids) == 1 else "")

    frame_statuses = [m["status"] for m in messages if m["type"] == "frame"]
    assert "no_code" in frame_statuses and frame_statuses.count("payment_code") >= 5
    code_reports = [m for m in messages if m["type"] == "code"]
    assert len(code_reports) == 1, code_reports
    report = code_reports[0]
    assert report["status"] == "charged" and report["session_id"] == session["session_id"]
    assert report["code_masked"] == mask_payment_code(code) and report["wallet"] == "wechat"
    assert code not in json.dumps(messages), "the full payment code never goes back over the wire"
    order_id = report["order_id"]

    # One charge in the channel's books, for this order.
    assert charges(live) == 1
    ledger = await live.ledger("wechat", order_id)
    assert [(entry["kind"], entry["amount_fen"]) for entry in ledger] == [("charge", 1250)]

    # The session closed with the order; the terminal sees the payment PAID.
    closed = (await live.terminal.request("GET", f"/v1/payments/scan-sessions/{session['session_id']}")).json()
    assert closed["status"] == "CHARGED" and closed["payment"]["order_id"] == order_id
    payment = await live.terminal.get_payment(order_id)
    assert payment.status_code == 200 and payment.json()["status"] == "PAID"
    assert payment.json()["auth_code_masked"] == mask_payment_code(code)

    # The result reached the terminal's event stream, from exactly one final event in the outbox.
    assert pushed == ["order.paid"]
    events = await final_events(live, order_id)
    assert [(event.type, event.payload["status"]) for event in events] == [("order.paid", "PAID")]
