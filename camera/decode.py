"""Frame decoder: grayscale, cheap region search, zbar on small crops, a time-boxed preprocessing ladder."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np

from camera.codes import CodeKind, Wallet, classify, wallet_of
from camera.engines import RawSymbol, SymbolEngine, ZbarEngine, ZxingEngine, zxing_available
from camera.images import FrameError, decode_image_bytes, to_gray


class FrameStatus(StrEnum):
    PAYMENT_CODE = "payment_code"
    NO_CODE = "no_code"
    NOT_PAYMENT_CODE = "not_payment_code"
    UNSUPPORTED_WALLET = "unsupported_wallet"
    MULTIPLE_CODES = "multiple_codes"
    CORRUPT_IMAGE = "corrupt_image"
    FRAME_TOO_LARGE = "frame_too_large"
    UNSUPPORTED_FORMAT = "unsupported_format"
    DECODE_ERROR = "decode_error"


@dataclass(frozen=True)
class Symbol:
    text: str = field(repr=False)  # may be a payment credential: kept out of reprs that end up in logs
    symbology: str
    kind: CodeKind
    wallet: Wallet | None


@dataclass(frozen=True)
class DecodeResult:
    status: FrameStatus
    symbols: tuple[Symbol, ...] = ()
    elapsed_ms: float = 0.0
    detail: str = ""

    @property
    def code(self) -> str | None:
        """The payment code, only when the frame holds exactly one (a QR and a barcode may both carry it)."""
        if self.status is not FrameStatus.PAYMENT_CODE:
            return None
        return next(symbol.text for symbol in self.symbols if symbol.kind is CodeKind.PAYMENT_CODE)

    @property
    def wallet(self) -> Wallet | None:
        return wallet_of(self.code) if self.code else None


@dataclass(frozen=True)
class Region:
    """A candidate rectangle in full-frame pixels, with how code-like its texture looked."""

    x: int
    y: int
    width: int
    height: int
    score: float
    # Square, solid and as dense with edges as a code: the only regions worth the preprocessing ladder.
    qr_like: bool

    def crop(self, gray: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(gray[self.y : self.y + self.height, self.x : self.x + self.width])


@dataclass(frozen=True)
class DecoderConfig:
    """Tuning for the decoder; the defaults are what bench/decode.py measures."""

    search_scale: int = 2  # region search runs on a 1/search_scale image
    min_edge_strength: int = 8  # gray levels; below this an edge is sensor noise
    min_region_side: int = 10  # pixels of the downscaled image; a far QR is about 25
    min_solidity: float = 0.45
    min_qr_side: int = 48  # full-frame pixels, margin included: smaller cannot hold 21 modules readably
    # A QR's modules keep its edge density above this share of the frame's contrast even when blurred
    # or washed out by glare; sparser text and clutter fall below it and never get the ladder.
    qr_density_ratio: float = 0.2
    max_elongation: float = 8.0  # a Code128 payment barcode is about 4:1; longer blobs are lines of text
    max_regions: int = 6
    ladder_regions: int = 1  # the preprocessing ladder runs only on the most QR-like region
    # zbar's first pass reads every n-th scan line: ~25% faster per frame, and the ladder re-reads a
    # QR-like region on every line, so only small codes outside QR-like regions pay for it.
    first_pass_line_step: int = 2
    margin: float = 0.12  # grown around a region so the code's quiet zone is inside the crop
    budget_ms: float = 10.0  # per frame; the ladder stops when it is spent
    # zbar reads every region first; zxing-cpp, when installed, gets the regions zbar could not read.
    zxing_fallback: bool = True


Step = Callable[[np.ndarray], np.ndarray]


def _sharpener(sigma: float, amount: float) -> Step:
    """Unsharp mask: undoes some of the optical and motion blur that makes zbar miss module edges."""

    def sharpen(crop: np.ndarray) -> np.ndarray:
        return cv2.addWeighted(crop, 1.0 + amount, cv2.GaussianBlur(crop, (0, 0), sigma), -amount, 0)

    return sharpen


def _threshold(crop: np.ndarray) -> np.ndarray:
    blurred = cv2.GaussianBlur(crop, (3, 3), 0)
    return cv2.adaptiveThreshold(blurred, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 31, 2)


def _unchanged(crop: np.ndarray) -> np.ndarray:
    return crop


@dataclass(frozen=True)
class LadderStep:
    name: str
    transform: Step
    on_fallback: bool = False  # run by the fallback engine (zxing-cpp); skipped when there is none


# The first step re-reads the crop on every scan line (the first pass reads every other one). The
# rest were picked greedily on generated frames that zbar could not read: each rescues the most
# remaining codes per millisecond. The frame's time budget cuts the ladder short. Invert is last, for
# dark-mode wallet screens (light modules on dark), which the generated set does not contain.
LADDER: tuple[LadderStep, ...] = (
    LadderStep("every_scan_line", _unchanged),
    LadderStep("sharpen", _sharpener(2.0, 3.0)),
    LadderStep("fallback_sharpen", _sharpener(1.0, 2.0), on_fallback=True),
    LadderStep("fallback_strong_sharpen", _sharpener(2.0, 3.0), on_fallback=True),
    LadderStep("wide_sharpen", _sharpener(3.0, 3.0)),
    LadderStep("threshold", _threshold),
    LadderStep("invert", cv2.bitwise_not),
)


def find_regions(gray: np.ndarray, config: DecoderConfig) -> list[Region]:
    """Candidate code regions: solid blobs of strong, dense edges found on a downscaled copy of the frame."""
    scale = config.search_scale
    height, width = gray.shape
    small = cv2.resize(gray, (width // scale, height // scale), interpolation=cv2.INTER_AREA)
    qr_density = config.qr_density_ratio * _contrast(small)
    edges = cv2.morphologyEx(small, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    # Averaging turns "many edges close together" (modules, bars) into one strong response.
    density = cv2.blur(edges, (5, 5))
    otsu, _ = cv2.threshold(density, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    _, mask = cv2.threshold(density, max(otsu, config.min_edge_strength), 255, cv2.THRESH_BINARY)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((7, 7), np.uint8))
    # Two-level hierarchy: a code inside a phone's outline is a blob of its own, not part of the outline.
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    regions = []
    for contour, (_next, _previous, _child, parent) in zip(contours, hierarchy[0] if contours else (), strict=True):
        if parent != -1:
            continue  # a hole
        (_cx, _cy), (side_a, side_b), _angle = cv2.minAreaRect(contour)
        if min(side_a, side_b) < config.min_region_side:
            continue
        x, y, w, h = cv2.boundingRect(contour)
        # Outlines (a phone's edge, a drawn frame) enclose little of their own area; codes fill theirs.
        solidity = cv2.countNonZero(mask[y : y + h, x : x + w]) / (side_a * side_b)
        long_side_ratio = max(side_a, side_b) / min(side_a, side_b)
        if solidity < config.min_solidity or long_side_ratio > config.max_elongation:
            continue
        grow_x, grow_y = int(w * config.margin) + 2, int(h * config.margin) + 2
        x0, y0 = max(0, x - grow_x), max(0, y - grow_y)
        x1, y1 = min(small.shape[1], x + w + grow_x), min(small.shape[0], y + h + grow_y)
        score = float(density[y : y + h, x : x + w].mean())
        qr_like = (
            long_side_ratio < 1.7
            and solidity > 0.6
            and min(x1 - x0, y1 - y0) * scale >= config.min_qr_side
            and score >= qr_density
        )
        regions.append(Region(x0 * scale, y0 * scale, (x1 - x0) * scale, (y1 - y0) * scale, score, qr_like))
    regions.sort(key=lambda region: (region.qr_like, region.score), reverse=True)
    return regions[: config.max_regions]


def _contrast(image: np.ndarray) -> float:
    """Spread between the frame's darkest and brightest percent: what a code's edges can reach here."""
    cumulative = np.cumsum(cv2.calcHist([image], [0], None, [256], [0, 256]).ravel())
    low, high = np.searchsorted(cumulative, (0.01 * image.size, 0.99 * image.size))
    return float(high - low)


class Decoder:
    """Decodes one frame at a time; owns a zbar scanner, so use one Decoder per thread."""

    def __init__(self, config: DecoderConfig | None = None, engine: SymbolEngine | None = None) -> None:
        """`engine` replaces zbar in both passes (for experiments); by default the first pass over every
        region runs zbar on every other scan line and the ladder runs it on every line.
        """
        self.config = config or DecoderConfig()
        self.engine = engine or ZbarEngine()
        self.first_pass_engine = engine or ZbarEngine(line_step=self.config.first_pass_line_step)
        self.fallback: SymbolEngine | None = ZxingEngine() if self.config.zxing_fallback and zxing_available() else None

    def decode_bytes(self, data: bytes) -> DecodeResult:
        start = time.perf_counter()
        try:
            gray = decode_image_bytes(data)
        except FrameError as error:
            return DecodeResult(FrameStatus(error.reason), elapsed_ms=_ms_since(start), detail=str(error))
        return self._decode_gray(gray, start)

    def decode(self, frame: np.ndarray) -> DecodeResult:
        start = time.perf_counter()
        try:
            gray = to_gray(frame)
        except FrameError as error:
            return DecodeResult(FrameStatus(error.reason), elapsed_ms=_ms_since(start), detail=str(error))
        return self._decode_gray(gray, start)

    def _decode_gray(self, gray: np.ndarray, start: float) -> DecodeResult:
        deadline = start + self.config.budget_ms / 1000.0
        found: list[RawSymbol] = []
        unread = []
        for region in find_regions(gray, self.config):
            crop = region.crop(gray)
            symbols = self.first_pass_engine.scan(crop)
            found += symbols
            if not symbols and region.qr_like:
                unread.append(crop)
        detail = ""
        if not any(classify(symbol.text) is CodeKind.PAYMENT_CODE for symbol in found):
            rescued, detail = self._climb_ladder(unread[: self.config.ladder_regions], deadline)
            found += rescued
        return _result(found, _ms_since(start), detail)

    def _climb_ladder(self, crops: Sequence[np.ndarray], deadline: float) -> tuple[list[RawSymbol], str]:
        """Symbols read by the first ladder step that reads anything, and a note saying which step it was."""
        for step in LADDER:
            engine = self.fallback if step.on_fallback else self.engine
            if engine is None:
                continue
            for crop in crops:
                if time.perf_counter() > deadline:
                    return [], "time budget spent"
                symbols = engine.scan(step.transform(crop))
                if symbols:
                    return symbols, f"read after {step.name}"
        return [], ""


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def _result(found: Sequence[RawSymbol], elapsed_ms: float, detail: str) -> DecodeResult:
    unique = {symbol.text: symbol for symbol in found}
    symbols = tuple(
        Symbol(symbol.text, symbol.symbology, classify(symbol.text), wallet_of(symbol.text))
        for symbol in unique.values()
    )
    payment = [symbol for symbol in symbols if symbol.kind is CodeKind.PAYMENT_CODE]
    if len(payment) > 1:
        status = FrameStatus.MULTIPLE_CODES
    elif payment:
        status = FrameStatus.PAYMENT_CODE
    elif any(symbol.kind is CodeKind.UNSUPPORTED_WALLET for symbol in symbols):
        status = FrameStatus.UNSUPPORTED_WALLET
    elif symbols:
        status = FrameStatus.NOT_PAYMENT_CODE
    else:
        status = FrameStatus.NO_CODE
    return DecodeResult(status, symbols, elapsed_ms, detail)


__all__ = ["LADDER", "DecodeResult", "Decoder", "DecoderConfig", "FrameStatus", "Region", "Symbol"]
