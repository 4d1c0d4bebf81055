"""The frame uplink's websocket (the `websockets` client) against a real websockets server on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, serve

from camera.sources import Frame
from camera.uplink import END_OF_STREAM, FrameUplink, HandshakeError, UplinkSettings, frames_url

Handler = Callable[[ServerConnection], None]
READY = json.dumps({"type": "ready", "camera_id": "cam-1", "max_frame_bytes": 1 << 20, "max_fps": 1000})


class EncodedFrames:
    """A recorded source of already-encoded frames."""

    def __init__(self, frames: list[bytes]) -> None:
        self.name = "frames"
        self.live = False
        self._frames = list(frames)
        self._index = 0

    def read(self) -> Frame | None:
        if self._index == len(self._frames):
            return None
        self._index += 1
        return Frame(self._index, time.monotonic(), encoded=self._frames[self._index - 1])

    def close(self) -> None:
        self._index = len(self._frames)


@contextlib.contextmanager
def websocket_server(handler: Handler) -> Iterator[str]:
    with serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        host, port = server.socket.getsockname()[:2]
        try:
            yield f"ws://{host}:{port}/v1/cameras/cam-1/frames"
        finally:
            server.shutdown()
            thread.join(timeout=5)


def stream(url: str, frames: list[bytes], key: str = "ck_test") -> tuple[Any, list[dict[str, Any]]]:
    messages: list[dict[str, Any]] = []
    uplink = FrameUplink(EncodedFrames(frames), url, key, messages.append, UplinkSettings(max_fps=1000))
    return uplink.run(), messages


def test_frames_of_every_length_encoding_arrive_intact_and_the_key_is_sent() -> None:
    received: list[bytes] = []
    seen_headers: list[str | None] = []

    def echo_sizes(connection: ServerConnection) -> None:
        seen_headers.append(connection.request.headers.get("Authorization") if connection.request else None)
        connection.send(READY)
        for message in connection:
            if message == END_OF_STREAM:
                connection.close(1000, "end of stream")
                return
            assert isinstance(message, bytes)
            received.append(message)
            connection.send(json.dumps({"type": "frame", "frame": len(received), "size": len(message)}))

    # The 7-bit, 16-bit and 64-bit length encodings of RFC 6455, each side of their limits.
    payloads = [b"\xff\xd8" + os.urandom(size - 2) for size in (2, 125, 126, 65535, 65536, 300_000)]
    with websocket_server(echo_sizes) as url:
        outcome, messages = stream(url, payloads)
    assert received == payloads
    assert seen_headers == ["Bearer ck_test"]
    assert [message["size"] for message in messages if message["type"] == "frame"] == [len(p) for p in payloads]
    assert (outcome.frames_sent, outcome.close_code, outcome.refused) == (len(payloads), 1000, False)


def test_pings_are_answered_and_fragmented_messages_are_joined() -> None:
    answered: list[bool] = []

    def ping_then_fragments(connection: ServerConnection) -> None:
        connection.send(READY)
        answered.append(connection.ping().wait(timeout=5))
        connection.send(iter(['{"type": ', '"frame", "frame": 1}']))
        for message in connection:
            if message == END_OF_STREAM:
                connection.close(1000, "end of stream")

    with websocket_server(ping_then_fragments) as url:
        outcome, messages = stream(url, [b"\xff\xd8frame"])
    assert answered == [True]
    assert {"type": "frame", "frame": 1} in messages
    assert outcome.close_code == 1000


def test_the_servers_close_code_and_reason_are_reported() -> None:
    def refuse(connection: ServerConnection) -> None:
        connection.close(1008, "invalid_camera_key: wrong key")

    with websocket_server(refuse) as url:
        outcome, messages = stream(url, [b"\xff\xd8frame"])
    assert (outcome.close_code, outcome.close_reason) == (1008, "invalid_camera_key: wrong key")
    assert outcome.refused and outcome.key_refused and not outcome.accepted and outcome.frames_sent == 0
    assert messages == []


def test_a_1008_after_ready_is_not_a_refused_key() -> None:
    def replace(connection: ServerConnection) -> None:
        connection.send(READY)
        connection.recv()
        connection.close(1008, "replaced: a newer connection of this camera took over")

    with websocket_server(replace) as url:
        outcome, _messages = stream(url, [b"\xff\xd8frame"] * 3)
    assert outcome.accepted and outcome.close_code == 1008
    assert outcome.refused and not outcome.key_refused


def test_a_plain_http_server_or_a_wrong_scheme_fails_the_handshake() -> None:
    class NotWebsocket(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(403 if self.path.startswith("/forbidden") else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), NotWebsocket)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(HandshakeError, match="404") as not_found:
            stream(f"ws://127.0.0.1:{server.server_port}/v1/cameras/cam-1/frames", [b"\xff\xd8frame"])
        with pytest.raises(HandshakeError) as forbidden:  # a proxy in front refusing the camera
            stream(f"ws://127.0.0.1:{server.server_port}/forbidden", [b"\xff\xd8frame"])
    finally:
        server.shutdown()
    assert (not_found.value.http_status, forbidden.value.http_status) == (404, 403)
    with pytest.raises(HandshakeError) as wrong_scheme:
        stream("http://127.0.0.1:1/frames", [b"\xff\xd8frame"])
    assert wrong_scheme.value.http_status is None
    with pytest.raises(ValueError, match="http"):
        frames_url("ftp://gateway", "cam-1")
    assert frames_url("https://gateway/", "cam-1") == "wss://gateway/v1/cameras/cam-1/frames"
