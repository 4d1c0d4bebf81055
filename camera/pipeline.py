"""The frame pipeline: capture and decode off the event loop, newest frame wins, confirmed and de-duplicated codes."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from enum import StrEnum

from camera.codes import Wallet, wallet_of
from camera.decode import Decoder, DecodeResult, FrameStatus
from camera.sources import Frame, FrameSource, SourceLost


class EventKind(StrEnum):
    FRAME = "frame"  # one decoded frame, whatever it held
    CODE = "code"  # a confirmed payment code, once per de-duplication window
    SOURCE_ENDED = "source_ended"
    SOURCE_LOST = "source_lost"


@dataclass(frozen=True)
class PipelineEvent:
    kind: EventKind
    status: FrameStatus | None = None
    code: str | None = field(default=None, repr=False)  # a payment credential: never in a repr or log
    wallet: Wallet | None = None
    frame_index: int = 0
    decode_ms: float = 0.0
    frames_dropped: int = 0
    detail: str = ""


@dataclass(frozen=True)
class PipelineSettings:
    confirm_frames: int = 2  # a code must be read in this many of ...
    history_frames: int = 5  # ... the last this many frames before it is emitted
    repeat_after_s: float = 10.0  # the same code is emitted again only after this long


class LatestFrameSlot:
    """A one-frame mailbox between the capture and decoding threads: a new frame replaces a waiting one."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._frame: Frame | None = None
        self._closed = False
        self.dropped = 0

    def put(self, frame: Frame, wait_until_taken: bool = False) -> None:
        with self._condition:
            if wait_until_taken:
                self._condition.wait_for(lambda: self._frame is None or self._closed)
            if self._closed:
                return
            self.dropped += self._frame is not None
            self._frame = frame
            self._condition.notify_all()

    def take(self) -> Frame | None:
        """The newest frame, blocking until one arrives; None once closed and empty."""
        with self._condition:
            self._condition.wait_for(lambda: self._frame is not None or self._closed)
            frame, self._frame = self._frame, None
            self._condition.notify_all()
            return frame

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()


class FrameCapture:
    """Reads a source on its own thread into a one-frame slot: a live source's newest frame wins, a recorded
    one (file, folder) is read at the consumer's pace. Runs once; the source's end or loss is `outcome`.
    """

    def __init__(self, source: FrameSource) -> None:
        self.source = source
        self.outcome: PipelineEvent | None = None
        self._slot = LatestFrameSlot()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name=f"capture {source.name}", daemon=True)

    @property
    def dropped(self) -> int:
        return self._slot.dropped

    def start(self) -> None:
        self._thread.start()

    def take(self) -> Frame | None:
        """The newest frame, blocking until one arrives; None once the source ended or `stop()` was called."""
        return self._slot.take()

    def stop(self) -> None:
        self._stop.set()
        self._slot.close()

    def finish(self) -> None:
        """Stop reading and close the source; wait for the capture thread to notice."""
        self.stop()
        if self._thread.ident is None:  # never started: nothing is reading the source
            self.source.close()
            return
        self._thread.join(timeout=1)
        # Closing also wakes a capture thread blocked in read() (a push source waiting for a client).
        with contextlib.suppress(Exception):
            self.source.close()
        self._thread.join(timeout=5)

    def _read(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                if frame is None:
                    self.outcome = PipelineEvent(EventKind.SOURCE_ENDED, detail=self.source.name)
                    break
                self._slot.put(frame, wait_until_taken=not self.source.live)
        except SourceLost as lost:
            self.outcome = PipelineEvent(EventKind.SOURCE_LOST, detail=str(lost))
        except Exception as error:  # a broken driver must end the stream with a status, not kill the process
            self.outcome = PipelineEvent(EventKind.SOURCE_LOST, detail=f"{type(error).__name__}: {error}")
        finally:
            self._slot.close()


class CodeConfirmer:
    """Emits a code seen in enough recent frames, and the same code once per repeat window."""

    def __init__(self, settings: PipelineSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self._settings = settings
        self._clock = clock
        self._recent: deque[str | None] = deque(maxlen=settings.history_frames)
        self._emitted_at: dict[str, float] = {}

    def observe(self, code: str | None) -> str | None:
        """Record one frame's code (None for none); return the code when it should be emitted now."""
        self._recent.append(code)
        if code is None or self._recent.count(code) < self._settings.confirm_frames:
            return None
        now = self._clock()
        # Forget old emissions so the table cannot grow without bound on a busy counter.
        horizon = now - self._settings.repeat_after_s
        self._emitted_at = {seen: at for seen, at in self._emitted_at.items() if at > horizon}
        if code in self._emitted_at:
            return None
        self._emitted_at[code] = now
        return code


class CodePipeline:
    """Reads a source on a capture thread and decodes on the thread calling `run` (or a worker, via
    `events`); runs once. Bad frames and lost sources become events, never exceptions.
    """

    def __init__(
        self,
        source: FrameSource,
        settings: PipelineSettings | None = None,
        decoder_factory: Callable[[], Decoder] = Decoder,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.settings = settings or PipelineSettings()
        self._decoder_factory = decoder_factory
        self._clock = clock
        self._capture = FrameCapture(source)

    def stop(self) -> None:
        self._capture.stop()

    def run(self, on_event: Callable[[PipelineEvent], None]) -> None:
        """Decode until the source ends, vanishes or `stop()` is called; report everything through on_event."""
        self._capture.start()
        decoder = self._decoder_factory()
        confirmer = CodeConfirmer(self.settings, self._clock)
        try:
            while (frame := self._capture.take()) is not None:
                result = self._decode(decoder, frame)
                on_event(
                    PipelineEvent(
                        EventKind.FRAME,
                        result.status,
                        frame_index=frame.index,
                        decode_ms=result.elapsed_ms,
                        frames_dropped=self._capture.dropped,
                        detail=result.detail,
                    )
                )
                code = confirmer.observe(result.code)
                if code is not None:
                    on_event(
                        PipelineEvent(
                            EventKind.CODE, result.status, code, wallet_of(code), frame.index, result.elapsed_ms
                        )
                    )
        finally:
            self._capture.finish()
        if self._capture.outcome is not None:
            on_event(self._capture.outcome)

    @staticmethod
    def _decode(decoder: Decoder, frame: Frame) -> DecodeResult:
        try:
            if frame.encoded is not None:
                return decoder.decode_bytes(frame.encoded)
            if frame.image is not None:
                return decoder.decode(frame.image)
        except Exception as error:  # one bad frame must never stop the stream
            return DecodeResult(FrameStatus.DECODE_ERROR, detail=f"{type(error).__name__}: {error}")
        return DecodeResult(FrameStatus.CORRUPT_IMAGE, detail="frame without pixels")

    async def events(self, max_pending: int = 256, executor: Executor | None = None) -> AsyncIterator[PipelineEvent]:
        """Run in a worker thread (of `executor`, else the loop's default one) and yield its events; when the
        consumer lags, frame reports are dropped (codes and source events never are).
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[PipelineEvent | None] = asyncio.Queue()

        def deliver(event: PipelineEvent | None) -> None:
            if event is not None and event.kind is EventKind.FRAME and queue.qsize() >= max_pending:
                return
            queue.put_nowait(event)

        def forward(event: PipelineEvent) -> None:
            loop.call_soon_threadsafe(deliver, event)

        async def run_then_finish() -> None:
            try:
                await loop.run_in_executor(executor, self.run, forward)
            finally:
                loop.call_soon(deliver, None)

        worker = asyncio.create_task(run_then_finish())
        try:
            while (event := await queue.get()) is not None:
                yield event
        finally:
            self.stop()
            await asyncio.shield(worker)
