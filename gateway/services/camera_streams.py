"""A camera's frame websocket: frames in, decoded on the camera pipeline's thread, status messages and charges out.

The API layer accepts the socket and hands it here with the key the camera sent; everything after that (the
key check, stream admission, frame limits, decoding, charging confirmed codes, closing) is this module's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, Protocol

from camera.pipeline import CodePipeline, EventKind, PipelineEvent
from camera.sources import PushSource
from gateway.domain.codes import mask_payment_code
from gateway.domain.errors import Conflict, DomainError, Forbidden, Unauthenticated
from gateway.services.cameras import CameraIdentity, CameraService

log = logging.getLogger(__name__)

#: WebSocket close codes (RFC 6455): bad key or a policy broken, a frame over the size limit, come back later.
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_TRY_LATER = 1013
CLOSE_NORMAL = 1000


class FrameSocket(Protocol):
    """An accepted websocket (Starlette's fits): ASGI receive messages, JSON sends, close."""

    async def receive(self) -> Mapping[str, Any]: ...

    async def send_json(self, data: Any) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


async def serve_camera_frames(
    websocket: FrameSocket, camera_id: str, token: str | None, cameras: CameraService
) -> None:
    """Binary JPEG (or PNG) frames in; JSON status messages out, until the camera or the gateway ends the stream.

    A bad key or a disabled camera closes with 1008, a gateway decoding as many streams as it may with 1013
    (try later).
    """
    try:
        camera = await cameras.authenticate(camera_id, token)
        stream = FrameStream(websocket, cameras, camera)
        cameras.admit_stream(camera.camera_id, stream.replace)
    except (Unauthenticated, Forbidden, Conflict) as refusal:
        log.warning("camera websocket for %.32s refused: %s", camera_id, refusal.code)
        close_code = CLOSE_TRY_LATER if refusal.code == "too_many_camera_streams" else CLOSE_POLICY
        await websocket.close(close_code, f"{refusal.code}: {refusal.detail}")
        return
    try:
        await stream.run()
    finally:
        cameras.end_stream(camera.camera_id, stream.replace)


def _is_end_of_stream(text: str | None) -> bool:
    """`{"type": "end"}`, sent by a camera after its last frame: every frame it sent (and a charge in flight)
    is answered first, then the gateway closes normally.
    """
    if text is None or len(text) > 64:
        return False
    try:
        return json.loads(text) == {"type": "end"}
    except ValueError:
        return False


class FrameRateLimiter:
    """A token bucket: `rate` frames a second on average, bursts of up to a second's worth."""

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._refilled_at = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._refilled_at) * self._rate)
        self._refilled_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class FrameStream:
    """One camera's websocket: receives frames into a push source, decodes them on the camera pipeline's
    thread, reports every decoded frame, and charges confirmed payment codes through the camera service.
    """

    def __init__(self, websocket: FrameSocket, cameras: CameraService, camera: CameraIdentity) -> None:
        self._websocket = websocket
        self._cameras = cameras
        self._camera = camera
        self._settings = cameras.settings
        self._source = PushSource(f"camera {camera.camera_id}", idle_timeout_s=self._settings.camera_idle_timeout_s)
        self._send_lock = asyncio.Lock()
        self._client_gone = False
        self._ending: tuple[int, str] | None = None  # set when the stream is ended from our side

    def replace(self) -> None:
        """A newer connection of the same camera took over: end this one (its pipeline first)."""
        self._ending = (CLOSE_POLICY, "replaced: a newer connection of this camera took over")
        self._source.disconnect()

    async def run(self) -> None:
        await self._send(
            {
                "type": "ready",
                "camera_id": self._camera.camera_id,
                "max_frame_bytes": self._settings.camera_max_frame_bytes,
                "max_fps": self._settings.camera_max_fps,
            }
        )
        receiver = asyncio.create_task(self._receive())
        reporter = asyncio.create_task(self._report(CodePipeline(self._source)))
        try:
            done, _pending = await asyncio.wait({receiver, reporter}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:
                close = receiver.result()
                if close is None:
                    self._client_gone = True
                    self._source.disconnect()
                else:
                    self._source.close()  # frames already received are still decoded and reported
            else:  # the pipeline ended: replaced by a newer connection, or no frame within the idle timeout
                receiver.cancel()
                close = self._ending or (CLOSE_NORMAL, f"no frame for {self._settings.camera_idle_timeout_s:g} s")
            await reporter
        finally:
            receiver.cancel()
            self._source.disconnect()
            if not reporter.done():
                reporter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reporter
        if close is not None and not self._client_gone:
            with contextlib.suppress(Exception):
                await self._websocket.close(*close)

    async def _receive(self) -> tuple[int, str] | None:
        """Push frames until the client leaves (None), says it has sent its last frame, or breaks the size
        limit (the close to send once every frame received is reported).
        """
        limit = self._settings.camera_max_frame_bytes
        limiter = FrameRateLimiter(self._settings.camera_max_fps)
        while True:
            message = await self._websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            frame = message.get("bytes")
            if frame is None and _is_end_of_stream(message.get("text")):
                return CLOSE_NORMAL, "end of stream: every frame received was reported"
            if frame is None:
                await self._send_status("unsupported_format", "send frames as binary JPEG messages")
            elif len(frame) > limit:
                return CLOSE_TOO_BIG, f"frames are limited to {limit} bytes"
            elif not limiter.allow():
                await self._send_status("rate_limited", f"at most {self._settings.camera_max_fps:g} frames a second")
            else:
                self._source.push(frame)

    async def _report(self, pipeline: CodePipeline) -> None:
        async for event in pipeline.events(executor=self._cameras.frame_executor):
            if event.kind is EventKind.FRAME:
                await self._send(
                    {
                        "type": "frame",
                        "frame": event.frame_index,
                        "status": event.status,
                        "decode_ms": round(event.decode_ms, 2),
                        "dropped": event.frames_dropped + self._source.dropped,
                        "detail": event.detail,
                    }
                )
            elif event.kind is EventKind.CODE and event.code is not None:
                # Shielded: a client leaving mid-charge must not cut the charge and its bookkeeping in half.
                await self._send(await asyncio.shield(self._charge(event)))

    async def _charge(self, event: PipelineEvent) -> dict[str, Any]:
        assert event.code is not None
        report: dict[str, Any] = {"type": "code", "code_masked": mask_payment_code(event.code), "wallet": event.wallet}
        try:
            view = await self._cameras.submit_code(self._camera, event.code)
        except DomainError as refusal:
            return {**report, "status": refusal.code, "detail": refusal.detail}
        except Exception:  # the stream outlives a failed charge; the session was settled by the service
            log.exception("camera %s: charging a code failed", self._camera.camera_id)
            return {**report, "status": "internal_error", "detail": "the gateway failed to charge this code"}
        order = view.order
        return {
            **report,
            "status": "charged",
            "session_id": view.session.id,
            "order_id": order.id if order else None,
            "payment_status": order.status if order else None,
        }

    async def _send_status(self, status: str, detail: str) -> None:
        await self._send({"type": "frame", "status": status, "detail": detail})

    async def _send(self, message: dict[str, Any]) -> None:
        """Send unless the client is gone; a vanished client must not stop decoding or a charge in flight."""
        if self._client_gone:
            return
        async with self._send_lock:
            try:
                await self._websocket.send_json(message)
            except Exception:
                self._client_gone = True
