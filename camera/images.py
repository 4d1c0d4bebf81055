"""Frames in and restored: untrusted input to 8-bit grayscale, and the filters that undo blur and glare on a crop."""

from __future__ import annotations

import functools
import math
import struct
from dataclasses import dataclass

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


# Restorations for the decoder's ladder: each takes and returns an 8-bit grayscale crop.


@dataclass(frozen=True)
class Texture:
    """How a crop's edges are oriented, from its structure tensor (the summed outer products of gradients)."""

    # 0 when edges run every way equally (a sharp QR: its modules' edges in two perpendicular
    # directions), towards 1 when all run one way (stripes, or a code smeared by motion).
    anisotropy: float
    gradient_angle: float  # radians, image axes (x right, y down): the direction most gradients point
    # Mean change a few pixels along the edges over the mean change as far across them: near 1 for a
    # two-dimensional pattern (a QR, sharp or smeared), near 0 for stripes, which do not change along.
    along_across: float


def texture(gray: np.ndarray, reach: int = 14) -> Texture:
    image = gray.astype(np.float32)
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = (
        float(np.dot(gx.ravel(), gx.ravel())),
        float(np.dot(gy.ravel(), gy.ravel())),
        float(np.dot(gx.ravel(), gy.ravel())),
    )
    total = jxx + jyy
    if total == 0.0:
        return Texture(0.0, 0.0, 0.0)
    angle = 0.5 * math.atan2(2 * jxy, jxx - jyy)
    along, across = (_mean_change(image, angle + offset, reach) for offset in (math.pi / 2, 0.0))
    return Texture(math.hypot(jxx - jyy, 2 * jxy) / total, angle, along / across if across else 0.0)


def _mean_change(image: np.ndarray, angle: float, reach: int) -> float:
    dx, dy = round(reach * math.cos(angle)), round(reach * math.sin(angle))
    height, width = image.shape
    if abs(dx) >= width or abs(dy) >= height:
        return 0.0
    here = image[max(0, dy) : height + min(0, dy), max(0, dx) : width + min(0, dx)]
    there = image[max(0, -dy) : height + min(0, -dy), max(0, -dx) : width + min(0, -dx)]
    return float(cv2.absdiff(here, there).mean())


def upscale(gray: np.ndarray, factor: float) -> np.ndarray:
    """Bicubic upscaling: gives a code whose modules are about two pixels the room a deblurring needs."""
    if factor <= 1.0:
        return gray
    return cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)


def gaussian_deblur(gray: np.ndarray, sigma: float, noise_ratio: float) -> np.ndarray:
    """Wiener deconvolution of a Gaussian blur of `sigma` pixels (a soft lens, a slightly defocused phone)."""
    padded, crop = _padded(gray, int(3 * sigma) + 2)
    fx, fy = _frequencies(padded.shape)
    return _wiener(padded, crop, np.exp(-2 * math.pi**2 * sigma**2 * (fx**2 + fy**2)), noise_ratio)


def motion_deblur(gray: np.ndarray, blur_angle: float, noise_ratio: float, max_length: int = 16) -> np.ndarray:
    """Undo a straight motion blur along `blur_angle` (radians): the blur's length is measured, then the crop
    is deconvolved (Wiener) by a line that long and that way.
    """
    length = _blur_length(_turn(gray, blur_angle), max_length)
    padded, crop = _padded(gray, max_length + 2)
    fx, fy = _frequencies(padded.shape)
    # A centred line of `length` pixels averages along it: its transfer function is a sinc across the
    # frequencies along the blur (real, so the deblurred code stays in place).
    return _wiener(padded, crop, np.sinc(length * (fx * math.cos(blur_angle) + fy * math.sin(blur_angle))), noise_ratio)


@functools.lru_cache(maxsize=64)
def _frequencies(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Spatial frequency (x, y, in cycles a pixel) of each entry of OpenCV's packed (CCS) spectrum of an
    image of `shape`, which holds a real image's DFT in an array of the image's own size.

    Inner columns alternate real and imaginary parts of one x frequency over every y frequency; the first
    column (and the last, when the width is even) hold the x frequency 0 (and the highest) as real and
    imaginary pairs over the non-negative y frequencies. A real, even gain then multiplies every entry.
    """
    rows, cols = shape
    fx = np.empty(shape, np.float32)
    fy = np.empty(shape, np.float32)
    columns = np.arange(cols)
    fx[:] = ((columns + 1) // 2) / cols
    fy[:] = np.fft.fftfreq(rows).astype(np.float32)[:, np.newaxis]
    edges = [0] + ([cols - 1] if cols % 2 == 0 else [])
    fx[:, cols - 1] = 0.5 if cols % 2 == 0 else fx[:, cols - 1]
    for column in edges:
        fy[:, column] = ((np.arange(rows) + 1) // 2) / rows
    for array in (fx, fy):
        array.setflags(write=False)
    return fx, fy


def _wiener(padded: np.ndarray, crop: tuple[slice, slice], transfer: np.ndarray, noise_ratio: float) -> np.ndarray:
    """Wiener deconvolution by a real, even transfer function: K / (K^2 + noise_ratio) on the packed spectrum."""
    gain = transfer / (transfer * transfer + noise_ratio)
    restored = cv2.idft(cv2.dft(padded) * gain, flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
    return _to_uint8(restored[crop])


def _blur_length(turned: np.ndarray, max_length: int) -> int:
    """Length in pixels of a blur along the rows: a box blur of length L turns every row's derivative into
    the difference of two copies of the sharp row's, L apart, so the derivative's autocorrelation is most
    negative at lag L.
    """
    height, width = turned.shape
    margin_y, margin_x = height // 5, width // 5
    middle = turned[margin_y : height - margin_y, margin_x : width - margin_x].astype(np.float32)
    derivative = np.diff(middle, axis=1)
    derivative -= derivative.mean()
    lags = range(2, min(max_length, derivative.shape[1] // 2))
    if not lags:
        return 1
    scores = [float(np.vdot(derivative[:, :-lag], derivative[:, lag:])) for lag in lags]
    return lags[int(np.argmin(scores))]


def _turn(gray: np.ndarray, angle: float) -> np.ndarray:
    """`gray` rotated so that direction `angle` becomes the x axis, on a canvas that holds all of it."""
    height, width = gray.shape
    cos, sin = abs(math.cos(angle)), abs(math.sin(angle))
    size = (int(width * cos + height * sin) + 1, int(width * sin + height * cos) + 1)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), math.degrees(angle), 1.0)
    matrix[:, 2] += (size[0] - width) / 2, (size[1] - height) / 2
    return cv2.warpAffine(gray, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def local_contrast(gray: np.ndarray, sigma: float, floor: float) -> np.ndarray:
    """Each pixel's difference from its neighbourhood's mean, over the neighbourhood's spread: a code half
    washed out by a reflection (or half in shadow) becomes one of even contrast. `floor` (a variance)
    keeps flat areas from amplifying sensor noise into texture.
    """
    image = gray.astype(np.float32)
    mean = cv2.GaussianBlur(image, (0, 0), sigma)
    deviation = image - mean
    spread = cv2.sqrt(cv2.GaussianBlur(deviation * deviation, (0, 0), sigma) + floor)
    return _to_uint8(128.0 + 64.0 * deviation / spread)


def _padded(gray: np.ndarray, border: int) -> tuple[np.ndarray, tuple[slice, slice]]:
    """`gray` as float32, edge-replicated by at least `border` to a size the DFT is fast at, and the slice
    that recovers the original: a deconvolution then wraps around flat edges, not across the crop.
    """
    height, width = gray.shape
    rows, cols = cv2.getOptimalDFTSize(height + 2 * border), cv2.getOptimalDFTSize(width + 2 * border)
    top, left = (rows - height) // 2, (cols - width) // 2
    padded = cv2.copyMakeBorder(gray, top, rows - height - top, left, cols - width - left, cv2.BORDER_REPLICATE).astype(
        np.float32
    )
    return padded, (slice(top, top + height), slice(left, left + width))


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(image, 0, 255).astype(np.uint8))
