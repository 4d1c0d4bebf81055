"""The camera's standard-library websocket client against a real websockets server on loopback."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from websockets.sync.server import ServerConnection, serve

from camera.wsclient import ConnectionClosed, HandshakeError, WebSocket

Handler = Callable[[ServerConnection], None]


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


def test_binary_messages_of_every_length_encoding_arrive_intact_and_headers_are_sent() -> None:
    received: list[bytes] = []
    seen_headers: list[str | None] = []

    def echo_sizes(connection: ServerConnection) -> None:
        seen_headers.append(connection.request.headers.get("Authorization") if connection.request else None)
        for message in connection:
            assert isinstance(message, bytes)
            received.append(message)
            connection.send(str(len(message)))

    payloads = [os.urandom(size) for size in (0, 125, 126, 65535, 65536, 300_000)]
    with websocket_server(echo_sizes) as url:
        socket = WebSocket.connect(url, {"Authorization": "Bearer ck_test"})
        for payload in payloads:
            socket.send_binary(payload)
            assert socket.receive() == str(len(payload))
        socket.close()
        with pytest.raises(ConnectionClosed) as closed:
            socket.receive()
        socket.shutdown()
    assert received == payloads
    assert seen_headers == ["Bearer ck_test"]
    assert closed.value.code == 1000


def test_pings_are_answered_and_fragmented_messages_are_joined() -> None:
    answered: list[bool] = []

    def ping_then_fragments(connection: ServerConnection) -> None:
        answered.append(connection.ping().wait(timeout=5))
        connection.send(iter(['{"type": ', '"frame"}']))
        connection.recv()  # until the client closes

    with websocket_server(ping_then_fragments) as url:
        socket = WebSocket.connect(url)
        assert socket.receive() == '{"type": "frame"}'
        socket.close()
        with pytest.raises(ConnectionClosed):
            socket.receive()
        socket.shutdown()
    assert answered == [True]


def test_the_servers_close_code_and_reason_are_reported_and_stay_reported() -> None:
    def refuse(connection: ServerConnection) -> None:
        connection.close(1008, "invalid_camera_key: wrong key")

    with websocket_server(refuse) as url:
        socket = WebSocket.connect(url)
        for _attempt in range(2):
            with pytest.raises(ConnectionClosed) as closed:
                socket.receive()
            assert (closed.value.code, closed.value.reason) == (1008, "invalid_camera_key: wrong key")
        socket.shutdown()


def test_a_plain_http_server_or_a_wrong_scheme_fails_the_handshake() -> None:
    class NotWebsocket(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), NotWebsocket)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(HandshakeError, match="404"):
            WebSocket.connect(f"ws://127.0.0.1:{server.server_port}/v1/cameras/cam-1/frames")
    finally:
        server.shutdown()
    with pytest.raises(HandshakeError, match="ws://"):
        WebSocket.connect("http://127.0.0.1:1/frames")
