"""The camera endpoints' bad-input list: every refusal is a clear status, nothing is charged, nothing crashes."""

from __future__ import annotations

import asyncio
import struct

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed

from gateway.client import TerminalClient
from gateway.config import Settings
from tests.cameras.conftest import (
    camera_headers,
    charges,
    empty_frames,
    encode_jpeg,
    frame_socket,
    next_message,
    open_session,
    phone_video,
    post_code,
    two_phones_frame,
)
from tests.support.live import LiveGateway, live_gateway


async def closed_with(socket_context: object) -> tuple[int, str]:
    """The close code and reason the gateway ends a frame socket with, right after the handshake."""
    async with socket_context as socket:  # type: ignore[attr-defined]
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await socket.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def jpeg_claiming(width: int, height: int) -> bytes:
    """A tiny JPEG whose frame header claims `width` x `height` pixels (a decompression bomb)."""
    real = encode_jpeg(np.full((16, 16, 3), 128, np.uint8))
    sof = real.index(b"\xff\xc0")
    return real[: sof + 5] + struct.pack(">HH", height, width) + real[sof + 9 :]


async def test_corrupt_odd_and_bomb_frames_get_statuses_and_the_stream_goes_on(live: LiveGateway) -> None:
    async with frame_socket(live) as socket:
        await next_message(socket, type="ready")
        await socket.send(b"\xff\xd8\xff\xe0 this is no JPEG")
        assert (await next_message(socket, type="frame"))["status"] == "corrupt_image"
        await socket.send(b"GIF89a not a JPEG either")
        assert (await next_message(socket, type="frame"))["status"] == "unsupported_format"
        await socket.send(jpeg_claiming(60000, 60000))
        assert (await next_message(socket, type="frame"))["status"] == "frame_too_large"
        await socket.send("a text message")
        assert (await next_message(socket, type="frame"))["status"] == "unsupported_format"
        await socket.send(empty_frames(1)[0])
        assert (await next_message(socket, type="frame"))["status"] == "no_code"
    assert charges(live) == 0


async def test_a_frame_over_the_size_limit_closes_the_socket_with_1009(live: LiveGateway) -> None:
    limit = live.runtime.settings.camera_max_frame_bytes
    async with frame_socket(live) as socket:
        await next_message(socket, type="ready")
        await socket.send(b"\xff\xd8" + bytes(limit))
        with pytest.raises(ConnectionClosed) as closed:
            await next_message(socket, type="never")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_non_payment_and_unsupported_wallet_codes_are_reported_and_never_charged(live: LiveGateway) -> None:
    opened = await open_session(live)
    assert opened.status_code == 201
    url_frames = list(phone_video(None, "https://shop.example.com/menu?table=12", 4, seed=1))
    e_cny = "0123456789012345678"  # a digital-yuan code: a wallet this gateway does not take
    foreign = "912345678901234567"  # wallet-length digits with a prefix no wallet uses
    async with frame_socket(live) as socket:
        await next_message(socket, type="ready")
        for frame in url_frames:
            await socket.send(frame)
            assert (await next_message(socket, type="frame"))["status"] == "not_payment_code"
        for frame in phone_video(foreign, foreign, 4, seed=2):
            await socket.send(frame)
            assert (await next_message(socket, type="frame"))["status"] == "unsupported_wallet"
    for text, problem in [
        ("https://shop.example.com/menu?table=12", "not_payment_code"),
        (e_cny, "unsupported_payment_code"),
        (foreign, "unsupported_payment_code"),
    ]:
        response = await post_code(live, text)
        assert response.status_code == 422 and response.json()["code"] == problem
        assert text not in response.text
    session = await live.terminal.request("GET", f"/v1/payments/scan-sessions/{opened.json()['session_id']}")
    assert session.json()["status"] == "OPEN", "refused codes leave the session waiting"
    assert charges(live) == 0


async def test_two_payment_codes_in_view_charge_neither(live: LiveGateway) -> None:
    assert (await open_session(live)).status_code == 201
    frame = two_phones_frame(await live.payment_code("alipay"), await live.payment_code("alipay"))
    async with frame_socket(live) as socket:
        await next_message(socket, type="ready")
        for _ in range(4):
            await socket.send(frame)
            report = await next_message(socket, type="frame")
            assert report["status"] == "multiple_codes"
    assert charges(live) == 0


async def test_a_payment_code_outside_a_session_charges_nothing(live: LiveGateway) -> None:
    code = await live.payment_code("alipay")
    async with frame_socket(live) as socket:
        await next_message(socket, type="ready")
        for frame in phone_video(code, code, 6, seed=3):
            await socket.send(frame)
            await asyncio.sleep(0.05)
        report = await next_message(socket, type="code")
    assert report["status"] == "no_open_session" and report["code_masked"].count("*") >= 8
    response = await post_code(live, code)
    assert response.status_code == 409 and response.json()["code"] == "no_open_session"
    assert code not in response.text
    assert charges(live) == 0
    # The code was not used up: it still pays once a session is open.
    assert (await open_session(live)).status_code == 201
    assert (await post_code(live, code)).status_code == 200
    assert charges(live) == 1


async def test_wrong_missing_and_foreign_camera_keys_are_refused(live: LiveGateway) -> None:
    assert (await open_session(live)).status_code == 201
    code = await live.payment_code("wechat")
    other = await live.runtime.cameras.create_camera(live.credentials["terminal_id"], "second camera")
    key = live.credentials["camera_key"]
    forged = key[: key.rindex("_") + 1] + "A" * 43
    for token, problem in [
        (forged, "invalid_camera_key"),
        ("mk_not_a_camera_key", "invalid_camera_key"),
        (other.key, "invalid_camera_key"),  # another camera's key on this camera's path
    ]:
        response = await post_code(live, code, key=token)
        assert response.status_code == 401 and response.json()["code"] == problem
    missing = await live.http.post(f"{live.url}/v1/cameras/{other.camera_id}/codes", json={"code": code})
    assert missing.status_code == 401 and missing.json()["code"] == "missing_camera_key"
    for context in (
        frame_socket(live, key=forged),
        frame_socket(live, key=other.key),
        frame_socket(live, key=forged, query_key=True),
    ):
        close_code, reason = await closed_with(context)
        assert close_code == 1008 and reason.startswith("invalid_camera_key")
    assert charges(live) == 0
    # The key also works as a query parameter, for clients that cannot set websocket headers.
    async with frame_socket(live, query_key=True) as socket:
        assert (await next_message(socket))["type"] == "ready"


async def test_a_camera_cannot_charge_another_terminals_session(live: LiveGateway) -> None:
    merchants = live.runtime.merchants
    other = await merchants.create_terminal(live.credentials["merchant_id"], live.credentials["store_id"], "Till 2")
    await live.runtime.cameras.create_camera(other.terminal_id)
    other_terminal = TerminalClient(live.url, other.key_id, other.secret, live.http)
    opened = await other_terminal.request("POST", "/v1/payments/scan-sessions", {"amount_fen": 800})
    assert opened.status_code == 201
    session_id = opened.json()["session_id"]

    code = await live.payment_code("unionpay")
    response = await post_code(live, code)  # the demo terminal's camera
    assert response.status_code == 409 and response.json()["code"] == "no_open_session"
    for method in ("GET", "DELETE"):
        foreign = await live.terminal.request(method, f"/v1/payments/scan-sessions/{session_id}")
        assert foreign.status_code == 404 and foreign.json()["code"] == "scan_session_not_found"
    still = await other_terminal.request("GET", f"/v1/payments/scan-sessions/{session_id}")
    assert still.json()["status"] == "OPEN"
    assert charges(live) == 0


async def test_stream_limits_rate_streams_per_instance_and_idle(settings: Settings) -> None:
    limits = {"camera_max_fps": 2.0, "camera_max_streams": 1, "camera_idle_timeout_s": 1.0}
    async with live_gateway(settings, **limits) as live:
        second = await live.runtime.cameras.create_camera(live.credentials["terminal_id"], "second camera")
        frame = empty_frames(1)[0]
        async with frame_socket(live) as socket:
            await next_message(socket, type="ready")
            for _ in range(8):
                await socket.send(frame)
            limited = await next_message(socket, status="rate_limited")
            assert "2 frames a second" in limited["detail"]
            close_code, reason = await closed_with(frame_socket(live, key=second.key, camera_id=second.camera_id))
            assert close_code == 1013 and reason.startswith("too_many_camera_streams")
        async with frame_socket(live) as idle:
            await next_message(idle, type="ready")
            with pytest.raises(ConnectionClosed) as closed:
                await next_message(idle, type="never")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
        assert closed.value.rcvd.reason == "no frame for 1 s"


async def test_a_cameras_newer_connection_replaces_the_older_one(live: LiveGateway) -> None:
    async with frame_socket(live) as first:
        await next_message(first, type="ready")
        async with frame_socket(live) as second:
            await next_message(second, type="ready")
            with pytest.raises(ConnectionClosed) as closed:
                await next_message(first, type="never")
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            assert closed.value.rcvd.reason.startswith("replaced")
            await second.send(empty_frames(1)[0])
            assert (await next_message(second, type="frame"))["status"] == "no_code"


async def test_a_bad_code_body_is_a_problem_not_a_crash(live: LiveGateway) -> None:
    for body in ({}, {"code": ""}, {"code": "1" * 513}, {"code": 134567890123456789}, {"code": "x", "extra": 1}):
        response = await live.http.post(
            f"{live.url}/v1/cameras/{live.credentials['camera_id']}/codes", json=body, headers=camera_headers(live)
        )
        assert response.status_code == 422 and response.json()["code"] == "validation_error"
    garbage = await live.http.post(
        f"{live.url}/v1/cameras/{live.credentials['camera_id']}/codes",
        content=b"\xff\xfe not json",
        headers={**camera_headers(live), "Content-Type": "application/json"},
    )
    assert garbage.status_code == 400 and garbage.headers["content-type"] == "application/problem+json"
    assert charges(live) == 0
