"""Frame sources behind one interface: camera index, video file, stream URL, image folder, pushed JPEG bytes."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


@dataclass(frozen=True)
class Frame:
    """One captured frame: pixels from OpenCV, or encoded bytes left for the decoding thread to decode."""

    index: int
    captured_at: float  # time.monotonic()
    image: np.ndarray | None = None
    encoded: bytes | None = None


class SourceLost(Exception):
    """The source stopped delivering: camera unplugged, stream dropped, folder removed."""


class FrameSource(Protocol):
    name: str
    # A live source's frames go stale, so the pipeline drops them when decoding falls behind; a recorded
    # one (file, folder) is read at the decoder's pace instead, because every frame is still current.
    live: bool

    def read(self) -> Frame | None:
        """Block for the next frame; None when the source has ended; raise SourceLost when it vanished."""
        ...

    def close(self) -> None: ...


class VideoCaptureSource:
    """Anything OpenCV's VideoCapture opens: a device index, a video file, an RTSP/HTTP stream URL."""

    def __init__(self, target: int | str, max_failed_reads: int = 5) -> None:
        self.name = f"camera {target}" if isinstance(target, int) else str(target)
        self.live = isinstance(target, int) or "://" in target
        self._capture = cv2.VideoCapture(target)
        if not self._capture.isOpened():
            raise SourceLost(f"cannot open {self.name}")
        # A live device can miss a read or two (USB hiccup) before it is really gone.
        self._max_failed_reads = max_failed_reads if self.live else 1
        self._index = 0

    def read(self) -> Frame | None:
        for _attempt in range(self._max_failed_reads):
            ok, image = self._capture.read()
            if ok and image is not None:
                self._index += 1
                return Frame(self._index, time.monotonic(), image=image)
        if self.live:
            raise SourceLost(f"{self.name} stopped delivering frames")
        return None

    def close(self) -> None:
        self._capture.release()


class ImageFolderSource:
    """The image files of a folder in name order, each read as encoded bytes."""

    def __init__(self, folder: Path) -> None:
        self.name = str(folder)
        self.live = False
        if not folder.is_dir():
            raise SourceLost(f"{folder} is not a folder")
        self._paths = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
        self._index = 0

    def read(self) -> Frame | None:
        if self._index >= len(self._paths):
            return None
        path = self._paths[self._index]
        self._index += 1
        try:
            data = path.read_bytes()
        except OSError as error:
            raise SourceLost(f"{path}: {error.strerror or error}") from error
        return Frame(self._index, time.monotonic(), encoded=data)

    def close(self) -> None:
        self._index = len(self._paths)


class PushSource:
    """Frames pushed by a client (e.g. JPEG bytes from a websocket); the newest pushed frame wins.

    `push` never blocks, so an asyncio handler may call it directly; `read` blocks the decoding thread.
    """

    def __init__(self, name: str = "push", idle_timeout_s: float | None = None) -> None:
        self.name = name
        self.live = True
        self._idle_timeout_s = idle_timeout_s
        self._condition = threading.Condition()
        self._pending: Frame | None = None
        self._closed = False
        self._lost: str | None = None
        self._index = 0
        self.dropped = 0

    def push(self, data: bytes) -> None:
        with self._condition:
            if self._closed:
                return
            self._index += 1
            self.dropped += self._pending is not None
            self._pending = Frame(self._index, time.monotonic(), encoded=data)
            self._condition.notify()

    def read(self) -> Frame | None:
        with self._condition:
            ready = self._condition.wait_for(lambda: self._pending is not None or self._closed, self._idle_timeout_s)
            if not ready:
                raise SourceLost(f"{self.name}: no frame for {self._idle_timeout_s} s")
            frame, self._pending = self._pending, None
            if frame is None and self._lost:
                raise SourceLost(self._lost)
            return frame

    def close(self) -> None:
        """The client finished normally: frames already pushed are still decoded, then the source ends."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def disconnect(self, reason: str = "client disconnected") -> None:
        """The client went away unexpectedly: the pipeline reports the source as lost."""
        with self._condition:
            self._lost = reason
            self._closed = True
            self._condition.notify_all()


def open_source(target: str) -> FrameSource:
    """A source from a CLI argument: an integer is a device index, a folder is an image folder, else a path/URL."""
    if target.isdigit():
        return VideoCaptureSource(int(target))
    if Path(target).is_dir():
        return ImageFolderSource(Path(target))
    return VideoCaptureSource(target)
