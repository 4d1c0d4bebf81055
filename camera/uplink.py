"""Stream a source's frames as JPEG to the gateway's camera websocket and hand its JSON answers to a callback."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from camera.pipeline import FrameCapture, PipelineEvent
from camera.sources import Frame, FrameSource

Message = dict[str, Any]

CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008  # before "ready": the gateway refused the camera key
CLOSE_ABNORMAL = 1006  # the connection dropped without a close frame (RFC 6455 section 7.1.5)
_MAX_MESSAGE_BYTES = 1024 * 1024  # the gateway only sends small JSON status messages


class HandshakeError(Exception):
    """The server did not switch protocols: wrong URL, a proxy in the way, or not a websocket endpoint."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status  # what the server answered instead, when it answered HTTP


_JPEG_MAGIC, _PNG_MAGIC = b"\xff\xd8", b"\x89PNG"
END_OF_STREAM = '{"type": "end"}'  # after our last frame: the gateway answers every frame, then closes


@dataclass(frozen=True)
class UplinkSettings:
    max_fps: float = 10.0  # never more than the gateway's own limit, which its "ready" message states
    jpeg_quality: int = 85
    # After the last frame we say so; the gateway answers every frame (and a charge in flight) before it
    # closes. This bounds the wait if it never does.
    drain_s: float = 20.0
    connect_timeout_s: float = 10.0
    close_timeout_s: float = 2.0  # how long our close waits for the gateway's answer


@dataclass(frozen=True)
class UplinkOutcome:
    """How the stream ended: the source's end or loss, and the gateway's close code (None if it never sent one)."""

    frames_sent: int
    source: PipelineEvent | None
    close_code: int | None
    close_reason: str = ""
    accepted: bool = False  # the gateway said "ready": it took the camera's key

    @property
    def key_refused(self) -> bool:
        """The gateway closed the stream with 1008 before accepting it: a missing or wrong camera key."""
        return not self.accepted and self.close_code == CLOSE_POLICY

    @property
    def refused(self) -> bool:
        """The gateway ended the stream for a reason other than a normal close (bad key, too big, busy)."""
        return self.close_code is not None and self.close_code != CLOSE_NORMAL


def frames_url(gateway: str, camera_id: str) -> str:
    """The websocket URL of a camera's frame stream, from the gateway's http(s) base URL."""
    if not gateway.startswith(("http://", "https://")):
        raise ValueError("the gateway URL must start with http:// or https://")
    return "ws" + gateway.removeprefix("http").rstrip("/") + f"/v1/cameras/{camera_id}/frames"


def jpeg_of(frame: Frame, quality: int) -> bytes | None:
    """What to send for a frame: encoded JPEG/PNG as it came, pixels encoded as JPEG; None if neither."""
    if frame.encoded is not None and frame.encoded.startswith((_JPEG_MAGIC, _PNG_MAGIC)):
        return frame.encoded
    image = frame.image
    if image is None and frame.encoded is not None:  # another format (BMP, ...): re-encode it
        image = cv2.imdecode(np.frombuffer(frame.encoded, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return encoded.tobytes() if ok else None


class FrameUplink:
    """Sends the newest frame at most `max_fps` times a second; a reader thread passes every answer to
    `on_message`. Run once with `run()`; `stop()` (from another thread or a signal handler) ends it early.
    """

    def __init__(
        self,
        source: FrameSource,
        url: str,
        key: str,
        on_message: Callable[[Message], None],
        settings: UplinkSettings | None = None,
    ) -> None:
        self._url = url
        self._key = key
        self._on_message = on_message
        self._settings = settings or UplinkSettings()
        self._capture = FrameCapture(source)
        self._stopped = threading.Event()
        self._closed = threading.Event()  # the reader saw the connection end
        self._close: tuple[int, str] | None = None  # the gateway's close code and reason

    def stop(self) -> None:
        self._stopped.set()
        self._capture.stop()

    def run(self) -> UplinkOutcome:
        """Connect, stream until the source ends (or `stop()`), drain the answers, close.

        Raises HandshakeError or OSError when the gateway cannot be reached at all.
        """
        try:
            with self._connect() as socket:
                return self._stream(socket)
        except InvalidStatus as error:  # an HTTP answer instead of the switch: 401/403 from a proxy, 404
            raise HandshakeError(str(error), error.response.status_code) from error
        except (InvalidHandshake, InvalidURI) as error:  # only the opening handshake raises these
            raise HandshakeError(str(error)) from error
        finally:
            self._capture.finish()  # closes the source, which was opened for us

    def _connect(self) -> Any:
        return connect(
            self._url,
            additional_headers={"Authorization": f"Bearer {self._key}"},
            open_timeout=self._settings.connect_timeout_s,
            close_timeout=self._settings.close_timeout_s,
            max_size=_MAX_MESSAGE_BYTES,
            compression=None,  # JPEG does not deflate; compressing it would only cost CPU
        )

    def _stream(self, socket: ClientConnection) -> UplinkOutcome:
        reader = threading.Thread(target=self._read, args=(socket,), name="uplink reader", daemon=True)
        sent = 0
        ready = None
        try:
            ready = self._ready(socket)
            if ready is not None:
                reader.start()
                sent = self._send_frames(socket, min(self._settings.max_fps, float(ready.get("max_fps", 1.0))))
                if not self._closed.is_set() and not self._stopped.is_set():
                    socket.send(END_OF_STREAM)
                    self._wait_for_close()
        except (ConnectionClosed, OSError):
            pass  # the connection broke while sending: the reader has recorded how
        finally:
            self._capture.finish()
            if not self._closed.is_set():  # stopped early, or the gateway never finished: close from our side
                with contextlib.suppress(OSError):
                    socket.close(CLOSE_NORMAL, "camera stopped")
            if reader.is_alive():
                reader.join(timeout=self._settings.close_timeout_s + 1.0)
        close = self._close
        return UplinkOutcome(
            sent, self._capture.outcome, close[0] if close else None, close[1] if close else "", ready is not None
        )

    def _wait_for_close(self) -> None:
        """Until the gateway has answered everything and closed, `stop()` is called, or `drain_s` passed."""
        deadline = time.monotonic() + self._settings.drain_s
        while not self._closed.wait(timeout=0.1) and not self._stopped.is_set() and time.monotonic() < deadline:
            pass

    def _ready(self, socket: ClientConnection) -> Message | None:
        """The gateway's first message (limits); None when it closed instead (a wrong key, too many streams)."""
        try:
            ready = json.loads(socket.recv())
        except ConnectionClosed as closed:
            self._close = _close_of(closed)
            self._closed.set()
            return None
        except ValueError:
            return {}  # not the JSON we expect; the stream itself may still work
        if not isinstance(ready, dict):
            return {}
        self._on_message(ready)
        return ready

    def _send_frames(self, socket: ClientConnection, fps: float) -> int:
        interval = 1.0 / fps
        next_due = time.monotonic()
        sent = 0
        self._capture.start()
        while not self._stopped.is_set() and not self._closed.is_set():
            frame = self._capture.take()
            if frame is None:
                break
            now = time.monotonic()
            if now < next_due:
                if self._capture.source.live:
                    continue  # a live camera has a newer frame coming: skip this one rather than queue it
                time.sleep(next_due - now)
            data = jpeg_of(frame, self._settings.jpeg_quality)
            if data is None:
                continue
            try:
                socket.send(data)
            except (ConnectionClosed, OSError):
                break  # the reader reports how the connection ended
            sent += 1
            next_due = max(next_due + interval, time.monotonic())
        return sent

    def _read(self, socket: ClientConnection) -> None:
        try:
            while True:
                raw = socket.recv()
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue  # not ours to interpret; the gateway only sends JSON
                if isinstance(message, dict):
                    self._on_message(message)
        except ConnectionClosed as closed:
            self._close = _close_of(closed)
        finally:
            self._closed.set()
            self._capture.stop()


def _close_of(closed: ConnectionClosed) -> tuple[int, str]:
    """The gateway's close code and reason; 1006 when the connection just went away."""
    if closed.rcvd is None:
        return CLOSE_ABNORMAL, ""
    return closed.rcvd.code, closed.rcvd.reason


__all__ = ["FrameUplink", "HandshakeError", "UplinkOutcome", "UplinkSettings", "frames_url", "jpeg_of"]
