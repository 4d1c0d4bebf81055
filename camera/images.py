"""Turns untrusted frame input (encoded bytes or arrays of any layout) into 8-bit grayscale, or a clear rejection."""

from __future__ import annotations

import struct

import cv2
import numpy as np

# A 4K frame is the largest a payment camera has reason to send; anything bigger is refused before it
# is decoded, so a small JPEG claiming 60000x60000 pixels cannot exhaust memory.
MAX_FRAME_PIXELS = 3840 * 2160
MAX_ENCODED_BYTES = 8 * 1024 * 1024

_JPEG_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class FrameError(ValueError):
    """A frame that cannot be decoded; `reason` is one of the decoder's frame statuses."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class CorruptImage(FrameError):
    def __init__(self, detail: str) -> None:
        super().__init__("corrupt_image", detail)


class FrameTooLarge(FrameError):
    def __init__(self, detail: str) -> None:
        super().__init__("frame_too_large", detail)


class UnsupportedFormat(FrameError):
    def __init__(self, detail: str) -> None:
        super().__init__("unsupported_format", detail)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from the JPEG's start-of-frame header, read without decoding any pixels."""
    position = 2
    while position + 9 <= len(data):
        if data[position] != 0xFF:
            raise CorruptImage("JPEG marker expected")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in _JPEG_SOF_MARKERS:
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        position += 2 + length
    raise CorruptImage("JPEG has no frame header")


def encoded_size(data: bytes) -> tuple[int, int]:
    """Width and height of a JPEG or PNG from its header; raise CorruptImage/UnsupportedFormat otherwise."""
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data[:8] == _PNG_SIGNATURE and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if not data:
        raise CorruptImage("empty frame")
    raise UnsupportedFormat("only JPEG and PNG frames are accepted")


def check_pixel_count(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise CorruptImage(f"frame has no pixels ({width}x{height})")
    if width * height > MAX_FRAME_PIXELS:
        raise FrameTooLarge(f"{width}x{height} exceeds {MAX_FRAME_PIXELS} pixels")


def decode_image_bytes(data: bytes) -> np.ndarray:
    """Decode JPEG/PNG bytes straight to 8-bit grayscale (libjpeg then skips the colour planes)."""
    if len(data) > MAX_ENCODED_BYTES:
        raise FrameTooLarge(f"{len(data)} bytes exceeds {MAX_ENCODED_BYTES}")
    check_pixel_count(*encoded_size(data))
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise CorruptImage("image data could not be decoded")
    return image


def to_gray(frame: np.ndarray) -> np.ndarray:
    """8-bit grayscale view of a frame: BGR, BGRA, single channel (2-D or HxWx1), 8 or 16 bits per sample."""
    if frame.ndim not in (2, 3) or frame.size == 0:
        raise UnsupportedFormat(f"frame of shape {frame.shape} is not an image")
    check_pixel_count(frame.shape[1], frame.shape[0])
    channels = 1 if frame.ndim == 2 else frame.shape[2]
    if channels not in (1, 3, 4):
        raise UnsupportedFormat(f"{channels}-channel frames are not supported")
    if frame.dtype == np.uint16:
        # Scale by the frame's own peak: 10- and 12-bit sensors deliver 16-bit words that never reach 65535.
        peak = int(frame.max())
        frame = cv2.convertScaleAbs(frame, alpha=255.0 / peak) if peak else np.zeros(frame.shape, np.uint8)
    elif frame.dtype != np.uint8:
        raise UnsupportedFormat(f"{frame.dtype} samples are not supported")
    if channels == 1:
        gray = frame.reshape(frame.shape[:2])
    else:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY if channels == 3 else cv2.COLOR_BGRA2GRAY)
    # zbar and OpenCV read rows by stride; a contiguous copy makes crops and views safe to pass on.
    return np.ascontiguousarray(gray)
