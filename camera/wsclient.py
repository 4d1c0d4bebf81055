"""A small blocking websocket client (RFC 6455) on the standard library, for streaming frames from the edge."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import ssl
import struct
import threading
from urllib.parse import urlsplit

import numpy as np

_ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
_MAX_HEADER_BYTES = 16 * 1024
_MAX_MESSAGE_BYTES = 1024 * 1024  # the gateway only sends small JSON status messages

OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_NORMAL = 1000
CLOSE_NO_STATUS = 1005  # what a close frame without a status code means (RFC 6455 section 7.1.5)


class HandshakeError(Exception):
    """The server did not switch protocols: wrong URL, a proxy in the way, or not a websocket endpoint."""


class ConnectionClosed(Exception):
    """The connection is closed; `code` and `reason` are the server's close frame (1006 when it just went away)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(f"{code} {reason}".strip())
        self.code = code
        self.reason = reason


class WebSocket:
    """One client connection. `send_*` may be called from one thread while another calls `receive`."""

    def __init__(self, stream: socket.socket) -> None:
        self._stream = stream
        self._send_lock = threading.Lock()
        self._buffer = b""
        self.close_code: int | None = None
        self.close_reason = ""

    @classmethod
    def connect(cls, url: str, headers: dict[str, str] | None = None, timeout_s: float = 10.0) -> WebSocket:
        """Open `ws://` or `wss://` `url`; raise HandshakeError unless the server answers 101 correctly."""
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise HandshakeError(f"not a ws:// or wss:// URL: {url}")
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        stream = socket.create_connection((parts.hostname, port), timeout=timeout_s)
        if parts.scheme == "wss":
            stream = ssl.create_default_context().wrap_socket(stream, server_hostname=parts.hostname)
        connection = cls(stream)
        try:
            connection._handshake(parts.netloc, parts.path or "/", parts.query, headers or {})
        except BaseException:
            stream.close()
            raise
        stream.settimeout(None)
        return connection

    def _handshake(self, host: str, path: str, query: str, headers: dict[str, str]) -> None:
        key = base64.b64encode(os.urandom(16)).decode()
        target = f"{path}?{query}" if query else path
        lines = [
            f"GET {target} HTTP/1.1",
            f"Host: {host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        self._stream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self._buffer:
            if len(self._buffer) > _MAX_HEADER_BYTES:
                raise HandshakeError("the handshake answer is too long")
            chunk = self._stream.recv(4096)
            if not chunk:
                raise HandshakeError("the server closed the connection during the handshake")
            self._buffer += chunk
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        if status_line.split(" ")[1:2] != ["101"]:
            raise HandshakeError(f"expected 101 Switching Protocols, got: {status_line}")
        answer = {name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
        expected = base64.b64encode(hashlib.sha1(key.encode() + _ACCEPT_GUID).digest()).decode()  # noqa: S324
        if answer.get("sec-websocket-accept") != expected:
            raise HandshakeError("the server's Sec-WebSocket-Accept does not match our key")

    # ---- sending ----------------------------------------------------------------------------------------

    def send_binary(self, data: bytes) -> None:
        self._send_frame(OP_BINARY, data)

    def send_text(self, text: str) -> None:
        self._send_frame(OP_TEXT, text.encode())

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Send our close frame (once); the server answers with its own, which `receive` reports."""
        with contextlib.suppress(OSError):  # already gone: nothing left to close politely
            self._send_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode()[:120])

    def shutdown(self) -> None:
        """Drop the TCP connection (after the close handshake, or when the server stopped answering)."""
        with contextlib.suppress(OSError):
            self._stream.shutdown(socket.SHUT_RDWR)
        self._stream.close()

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        # Clients mask every frame (RFC 6455 section 5.3) so that caches in between never see our bytes raw.
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        with self._send_lock:
            self._stream.sendall(header + mask + _masked(payload, mask))

    # ---- receiving --------------------------------------------------------------------------------------

    def receive(self) -> str | bytes:
        """The next data message; answers pings; raises ConnectionClosed when the server closes or vanishes."""
        if self.close_code is not None:
            raise ConnectionClosed(self.close_code, self.close_reason)
        fragments: list[bytes] = []
        message_opcode = OP_TEXT
        while True:
            final, opcode, payload = self._read_frame()
            if opcode == OP_PING:
                self._send_frame(OP_PONG, payload)
            elif opcode == OP_CLOSE:
                self._closed_by_server(payload)
            elif opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
                if opcode != OP_CONTINUATION:
                    message_opcode = opcode
                fragments.append(payload)
                if sum(map(len, fragments)) > _MAX_MESSAGE_BYTES:
                    self.close(1009, "message too big")
                    raise ConnectionClosed(1009, "message from the server too big")
                if final:
                    data = b"".join(fragments)
                    return data.decode() if message_opcode == OP_TEXT else data

    def _closed_by_server(self, payload: bytes) -> None:
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else CLOSE_NO_STATUS
        self.close_code, self.close_reason = code, payload[2:].decode(errors="replace")
        self.close(code if len(payload) >= 2 else CLOSE_NORMAL)  # echo the close, as the protocol asks
        raise ConnectionClosed(self.close_code, self.close_reason)

    def _read_frame(self) -> tuple[bool, int, bytes]:
        first, second = self._read_exactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read_exactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read_exactly(8))
        if length > _MAX_MESSAGE_BYTES:
            self.close(1009, "frame too big")
            raise ConnectionClosed(1009, "frame from the server too big")
        mask = self._read_exactly(4) if second & 0x80 else b""
        payload = self._read_exactly(length)
        return bool(first & 0x80), first & 0x0F, _masked(payload, mask) if mask else payload

    def _read_exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            try:
                chunk = self._stream.recv(max(4096, count - len(self._buffer)))
            except OSError:
                chunk = b""
            if not chunk:
                self.close_code = self.close_code or 1006
                raise ConnectionClosed(1006, "the connection dropped without a close frame")
            self._buffer += chunk
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data


def _masked(payload: bytes, mask: bytes) -> bytes:
    """XOR with the 4-byte mask (RFC 6455 section 5.3), vectorised: a JPEG frame is hundreds of kilobytes."""
    data = np.frombuffer(payload, np.uint8)
    return np.bitwise_xor(data, np.resize(np.frombuffer(mask, np.uint8), data.size)).tobytes()
