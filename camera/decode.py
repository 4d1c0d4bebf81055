"""Frame decoder: a time-boxed cascade of regions, whole-frame scales and preprocessing, zbar then zxing-cpp."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np

from camera.codes import CodeKind, Wallet, classify, wallet_of
from camera.engines import RawSymbol, SymbolEngine, ZbarEngine, ZxingEngine, zxing_available
from camera.images import (
    FrameError,
    Texture,
    decode_image_bytes,
    gaussian_deblur,
    local_contrast,
    motion_deblur,
    texture,
    to_gray,
    upscale,
)


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
    """Tuning for the decoder; the defaults are what bench/decode.py measures and what the gateway runs."""

    search_scale: int = 2  # region search runs on a 1/search_scale image (1 for frames up to 640 wide)
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
    # A region of more pixels than this is read downscaled to it: a code that large (a QR over 280 px
    # square, a barcode over 600 px long) has modules of 8 px or more, and reading it at full resolution
    # would cost several milliseconds.
    first_pass_max_pixels: int = 80_000
    margin: float = 0.12  # grown around a region so the code's quiet zone is inside the crop
    # The ladder reads a large crop downscaled to this longest side: a payment QR (21-25 modules) keeps
    # 6+ pixels a module, blur shrinks with it, and each step costs a fraction of the full crop.
    ladder_max_side: int = 200
    # The whole frame at 1/4: a close-up QR's modules (20-35 px) or a frame-wide barcode's bars (8-10 px)
    # are too coarse for the region search, which then splits or misses them; downscaled, they are
    # ordinary codes. Every third scan line is plenty for codes that large.
    whole_frame_scales: tuple[int, ...] = (4,)
    whole_frame_line_step: int = 3
    whole_frame_first_share: float = 0.2  # regions covering more of the frame than this: whole frame first
    whole_frame_padding: int = 12  # white pixels added around it: the frame edge may cut the quiet zone
    # Per frame, in CPU time of the decoding thread (on an idle core that is wall time): each step runs only
    # if its predicted cost still fits. CPU time, so that a machine busy with other work (or a gateway
    # decoding several streams) reads the same codes, only later; stale frames are dropped upstream.
    budget_ms: float = 10.0
    # zxing-cpp reads what zbar could not, after every zbar step; False is the zbar-only mode.
    zxing_fallback: bool = True


# A ladder step's restoration of a crop, told the crop's texture (which way its edges run).
Step = Callable[[np.ndarray, Texture], np.ndarray]


def _sharpener(sigma: float, amount: float) -> Step:
    """Unsharp mask: undoes some of the optical and motion blur that makes zbar miss module edges."""

    def sharpen(crop: np.ndarray, _texture: Texture) -> np.ndarray:
        return cv2.addWeighted(crop, 1.0 + amount, cv2.GaussianBlur(crop, (0, 0), sigma), -amount, 0)

    return sharpen


def _unchanged(crop: np.ndarray, _texture: Texture | None = None) -> np.ndarray:
    return crop


def _invert(crop: np.ndarray, _texture: Texture) -> np.ndarray:
    return cv2.bitwise_not(crop)


def _unsmear(noise_ratio: float) -> Step:
    """Motion deblurring along the direction the crop's edges are smeared (across its dominant gradient)."""

    def unsmear(crop: np.ndarray, texture: Texture) -> np.ndarray:
        return motion_deblur(crop, texture.gradient_angle + math.pi / 2, noise_ratio)

    return unsmear


def _refocus(sigma: float, noise_ratio: float, side: int) -> Step:
    """A small crop upscaled to about `side` pixels, then a Gaussian blur of `sigma` source pixels undone:
    a webcam's or a far code's modules of two pixels, softened by the lens, become sharp modules of five.
    """

    def refocus(crop: np.ndarray, _texture: Texture) -> np.ndarray:
        factor = min(3.0, max(1.0, side / max(crop.shape)))
        return gaussian_deblur(upscale(crop, factor), sigma * factor, noise_ratio)

    return refocus


def _even_out(sigma: float, floor: float) -> Step:
    """Local contrast: a code half washed out by a reflection gets the contrast of its other half."""

    def even_out(crop: np.ndarray, _texture: Texture) -> np.ndarray:
        return local_contrast(crop, sigma, floor)

    return even_out


@dataclass(frozen=True)
class LadderStep:
    name: str
    transform: Step
    on_fallback: bool = False  # run by the fallback engine (zxing-cpp); skipped without it
    smeared_only: bool = False  # only on crops whose edges run mostly one way (motion blur)


_UNSMEAR = _unsmear(0.01)
_EVEN_OUT = _even_out(4.0, 25.0)
_SMEARED = 0.15  # anisotropy above which a crop's edges run mostly one way: a sharp QR stays well below
_STRIPES = 0.75  # along/across change below which such a crop is stripes (text lines, packaging), not a code

# Ordered greedily by codes rescued per millisecond on generated frames the first pass could not read
# (seeds apart from the bench's), zxing-cpp's step of each restoration before zbar's, which reuses the
# restored crop when it can and is all the zbar-only mode runs: sharpening, for optical blur; unsmearing,
# only on crops smeared one way; refocusing, which upscales small codes (a webcam's, a far phone's) before
# undoing the lens's blur, milder for zxing-cpp, then stronger; evening out, for glare. Invert, for
# dark-mode wallet screens (light modules on dark, which the generated set does not hold), is last.
# Re-reading every scan line, or a second sharpening for zbar, rescued nothing these had not.
LADDER: tuple[LadderStep, ...] = (
    LadderStep("fallback_strong_sharpen", _sharpener(2.0, 3.0), on_fallback=True),
    LadderStep("wide_sharpen", _sharpener(3.0, 3.0)),
    LadderStep("fallback_unsmear", _UNSMEAR, on_fallback=True, smeared_only=True),
    LadderStep("unsmear", _UNSMEAR, smeared_only=True),
    LadderStep("fallback_refocus", _refocus(1.0, 0.01, 200), on_fallback=True),
    LadderStep("refocus", _refocus(1.2, 0.01, 200)),
    LadderStep("fallback_sharpen", _sharpener(1.0, 2.0), on_fallback=True),
    LadderStep("fallback_strong_refocus", _refocus(1.3, 0.003, 200), on_fallback=True),
    LadderStep("fallback_even_out", _EVEN_OUT, on_fallback=True),
    LadderStep("even_out", _EVEN_OUT),
    LadderStep("invert", _invert),
)


@dataclass(frozen=True)
class Search:
    """What the region search found, and the downscaled frame it searched (reused by the later passes)."""

    regions: list[Region]
    small: np.ndarray
    scale: int


def find_regions(gray: np.ndarray, config: DecoderConfig) -> list[Region]:
    """Candidate code regions: solid blobs of strong, dense edges found on a downscaled copy of the frame."""
    return search_regions(gray, config).regions


def search_regions(gray: np.ndarray, config: DecoderConfig) -> Search:
    height, width = gray.shape
    scale = config.search_scale if width > 640 else 1  # a webcam's small frame keeps every pixel
    small = cv2.resize(gray, (width // scale, height // scale), interpolation=cv2.INTER_AREA) if scale > 1 else gray
    # Both histograms (contrast and Otsu's threshold) from every other pixel: the same figures, in a quarter
    # of the time.
    qr_density = config.qr_density_ratio * _contrast(np.ascontiguousarray(small[::2, ::2]))
    edges = cv2.morphologyEx(small, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    # Averaging turns "many edges close together" (modules, bars) into one strong response.
    density = cv2.blur(edges, (5, 5))
    otsu, _ = cv2.threshold(np.ascontiguousarray(density[::2, ::2]), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    _, mask = cv2.threshold(density, max(otsu, config.min_edge_strength), 255, cv2.THRESH_BINARY)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((7, 7), np.uint8))
    # Two-level hierarchy: a code inside a phone's outline is a blob of its own, not part of the outline.
    contours, hierarchy = cv2.findContours(mask, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    regions = []
    for contour, (_next, _previous, _child, parent) in zip(contours, hierarchy[0] if contours else (), strict=True):
        if parent != -1:
            continue  # a hole
        x, y, w, h = cv2.boundingRect(contour)
        if max(w, h) < config.min_region_side:
            continue  # specks, most of what the mask holds: no rotated rectangle needed to drop them
        (_cx, _cy), (side_a, side_b), _angle = cv2.minAreaRect(contour)
        if min(side_a, side_b) < config.min_region_side:
            continue
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
    return Search(regions[: config.max_regions], small, scale)


def _contrast(image: np.ndarray) -> float:
    """Spread between the frame's darkest and brightest percent: what a code's edges can reach here."""
    cumulative = np.cumsum(cv2.calcHist([image], [0], None, [256], [0, 256]).ravel())
    low, high = np.searchsorted(cumulative, (0.01 * image.size, 0.99 * image.size))
    return float(high - low)


class CostModel:
    """Predicts what one step (a transform and a scan) costs from the pixels it reads.

    Learned per step kind as milliseconds of CPU per megapixel: quicker to rise after a slow call than to
    fall, so a prediction errs on the expensive side and a step that would overrun the budget is skipped
    instead of started.
    """

    def __init__(self, initial_ms_per_mpx: float) -> None:
        self.ms_per_mpx = initial_ms_per_mpx

    def predict(self, pixels: int) -> float:
        return self.ms_per_mpx * pixels / 1e6

    def observe(self, pixels: int, elapsed_ms: float) -> None:
        if pixels < 2000:
            return  # fixed per-call overhead dominates tiny images; they say nothing about the rate
        rate = min(elapsed_ms * 1e6 / pixels, 4 * self.ms_per_mpx)  # one outlier moves it, never by 10x
        weight = 0.3 if rate > self.ms_per_mpx else 0.1
        self.ms_per_mpx += weight * (rate - self.ms_per_mpx)

    def skipped(self) -> None:
        """A step was not run: lower the estimate a little, so one slow frame cannot bar a step for good."""
        self.ms_per_mpx *= 0.95


# Starting rates in ms of CPU per megapixel (zbar on every n-th line, zxing-cpp), measured on a shared
# 2-core x86 machine; each decoder adapts them as it reads.
_ZBAR_MS_PER_MPX, _ZXING_MS_PER_MPX = 30.0, 15.0


class Decoder:
    """Decodes one frame at a time; owns a zbar scanner, so use one Decoder per thread.

    The cascade, within one time budget: (1) zbar on every candidate region, every other scan line;
    (2) zbar on the whole frame at 1/4 scale, for codes too large for the region search; (3) the
    restoration ladder (LADDER) on the most QR-like unread region, unless its texture is stripes rather
    than a code; (4) zxing-cpp on the 1/4 whole frame. It stops at the first payment code. Before each scan
    it predicts the scan's cost (restoration included) and skips it when it would end past the budget.
    """

    def __init__(self, config: DecoderConfig | None = None, engine: SymbolEngine | None = None) -> None:
        """`engine` replaces zbar in every zbar pass (for experiments); by default the first pass over every
        region runs zbar on every other scan line and the ladder runs it on every line.
        """
        self.config = config or DecoderConfig()
        self.engine = engine or ZbarEngine()
        self.first_pass_engine = engine or ZbarEngine(line_step=self.config.first_pass_line_step)
        self.whole_frame_engine = engine or ZbarEngine(line_step=self.config.whole_frame_line_step)
        # zxing-cpp finds QR codes at any angle and barcodes along rows; zbar, which scans columns too, has
        # already read the frame when zxing-cpp does, so it skips the turned copy (half its work).
        with_zxing = self.config.zxing_fallback and zxing_available()
        self.fallback: SymbolEngine | None = ZxingEngine(try_rotate=False) if with_zxing else None
        # Starting rates per engine; each (engine, ladder step) pair learns its own, as restorations cost
        # differently.
        self._rates = {id(self.engine): _ZBAR_MS_PER_MPX}
        self._rates.setdefault(id(self.first_pass_engine), _ZBAR_MS_PER_MPX / self.config.first_pass_line_step)
        self._rates.setdefault(id(self.whole_frame_engine), _ZBAR_MS_PER_MPX / self.config.whole_frame_line_step)
        if self.fallback is not None:
            self._rates[id(self.fallback)] = _ZXING_MS_PER_MPX
        self._costs: dict[tuple[int, str], CostModel] = {}

    def decode_bytes(self, data: bytes) -> DecodeResult:
        start, cpu_start = time.perf_counter(), time.thread_time()
        try:
            gray = decode_image_bytes(data)
        except FrameError as error:
            return DecodeResult(FrameStatus(error.reason), elapsed_ms=_ms_since(start), detail=str(error))
        return self._decode_gray(gray, start, cpu_start)

    def decode(self, frame: np.ndarray) -> DecodeResult:
        start, cpu_start = time.perf_counter(), time.thread_time()
        try:
            gray = to_gray(frame)
        except FrameError as error:
            return DecodeResult(FrameStatus(error.reason), elapsed_ms=_ms_since(start), detail=str(error))
        return self._decode_gray(gray, start, cpu_start)

    def _decode_gray(self, gray: np.ndarray, start: float, cpu_start: float) -> DecodeResult:
        run = _Run(self, cpu_start + self.config.budget_ms / 1000.0)
        search = search_regions(gray, self.config)
        # Regions first, as they are cheap; unless they cover much of the frame (a close-up, a large barcode
        # split into strips), when reading them costs more than the downscaled whole frame, which reads
        # such codes best: then the whole frame goes first.
        covered = sum(region.width * region.height for region in search.regions)
        if covered > self.config.whole_frame_first_share * gray.size:
            run.whole_frame(search, self.whole_frame_engine, self.config.whole_frame_scales)
        unread = []
        # Every region is read even after a payment code: a second, different one makes the frame ambiguous.
        for region in search.regions:
            crop = region.crop(gray)
            # The first pass is the hot path and bounded (at most max_regions crops, none larger than
            # first_pass_max_pixels): it always runs.
            limit = self.config.first_pass_max_pixels
            small = crop if crop.size <= limit else self._fit(crop, int(max(crop.shape) * (limit / crop.size) ** 0.5))
            symbols = run.scan(self.first_pass_engine, small, always=True)
            if not symbols and region.qr_like:
                unread.append(crop)
        if not run.has_payment_code() and not run.whole_frames:
            run.whole_frame(search, self.whole_frame_engine, self.config.whole_frame_scales)
        if not run.has_payment_code():
            run.climb_ladder(
                [self._fit(crop, self.config.ladder_max_side) for crop in unread[: self.config.ladder_regions]]
            )
        if not run.has_payment_code() and self.fallback is not None and run.whole_frames:
            run.scan(self.fallback, run.whole_frames[0])
            if run.has_payment_code():
                run.detail = "read by zxing-cpp on the whole frame"
        return _result(run.found, _ms_since(start), run.detail)

    @staticmethod
    def _fit(crop: np.ndarray, max_side: int) -> np.ndarray:
        longest = max(crop.shape)
        if longest <= max_side:
            return crop
        factor = max_side / longest
        size = (max(1, round(crop.shape[1] * factor)), max(1, round(crop.shape[0] * factor)))
        return cv2.resize(crop, size, interpolation=cv2.INTER_AREA)

    def _cost(self, engine: SymbolEngine, step: str) -> CostModel:
        key = (id(engine), step)
        if key not in self._costs:
            self._costs[key] = CostModel(self._rates.get(id(engine), _ZBAR_MS_PER_MPX))
        return self._costs[key]


class _Run:
    """One frame's pass through the cascade: what it read, and the budget left."""

    def __init__(self, decoder: Decoder, deadline: float) -> None:
        self._decoder = decoder
        self._deadline = deadline
        self.found: list[RawSymbol] = []
        self.whole_frames: list[np.ndarray] = []  # the padded downscaled frames zbar read, for zxing-cpp
        # Kept while the frame is decoded, so ids cannot be reused: each crop's texture and restorations.
        self._textures: dict[int, Texture] = {}
        self._restorations: dict[tuple[int, Step], np.ndarray] = {}
        self.detail = ""
        self._payment = False

    def has_payment_code(self) -> bool:
        return self._payment

    def scan(
        self, engine: SymbolEngine, image: np.ndarray, always: bool = False, step: LadderStep | None = None
    ) -> list[RawSymbol] | None:
        """Scan `image` (restored by `step`) if that fits in the budget (or `always`); None (and a note) when
        it does not.
        """
        cost = self._decoder._cost(engine, step.name if step else "")
        now = time.thread_time()
        if not always and now + cost.predict(image.size) / 1000.0 > self._deadline:
            cost.skipped()
            self.detail = "time budget spent"
            return None
        symbols = engine.scan(self._restored(image, step) if step else image)
        cost.observe(image.size, (time.thread_time() - now) * 1000.0)
        self.found += symbols
        self._payment = self._payment or any(classify(symbol.text) is CodeKind.PAYMENT_CODE for symbol in symbols)
        return symbols

    def _restored(self, crop: np.ndarray, step: LadderStep) -> np.ndarray:
        """`step`'s restoration of `crop`, made once: zbar's step and zxing-cpp's share it."""
        key = (id(crop), step.transform)
        if key not in self._restorations:
            self._restorations[key] = np.ascontiguousarray(step.transform(crop, self._texture(crop)))
        return self._restorations[key]

    def _texture(self, crop: np.ndarray) -> Texture:
        if id(crop) not in self._textures:
            self._textures[id(crop)] = texture(crop)
        return self._textures[id(crop)]

    def whole_frame(self, search: Search, engine: SymbolEngine, scales: Sequence[int]) -> None:
        padding = self._decoder.config.whole_frame_padding
        for scale in scales:
            if self._payment:
                return
            step = max(1, scale // search.scale)
            height, width = search.small.shape
            image = search.small
            if step > 1:
                image = cv2.resize(search.small, (width // step, height // step), interpolation=cv2.INTER_AREA)
            elif search.scale > scale:
                continue  # the frame itself is smaller than this scale asks for: the regions covered it
            padded = cv2.copyMakeBorder(image, padding, padding, padding, padding, cv2.BORDER_CONSTANT, value=255)
            self.whole_frames.append(padded)
            if self.scan(engine, padded) is None:
                return
            if self._payment:
                self.detail = f"read on the whole frame at 1/{scale}"

    def climb_ladder(self, crops: Sequence[np.ndarray]) -> None:
        """Each ladder step on each crop until one reads a payment code; crops of stripes are left out."""
        fallback = self._decoder.fallback
        # Stripes (a shelf edge, lines of text) look dense and square enough to the region search, but only
        # a QR, sharp or smeared, also changes along its edges: the ladder is for QR codes.
        crops = [crop for crop in crops if not _is_stripes(self._texture(crop))]
        for step in LADDER:
            engine = fallback if step.on_fallback else self._decoder.engine
            if engine is None:
                continue
            for crop in crops:
                if step.smeared_only and self._texture(crop).anisotropy <= _SMEARED:
                    continue
                if self.scan(engine, crop, step=step) is None:
                    return
                if self._payment:
                    self.detail = f"read after {step.name}"
                    return


def _is_stripes(crop_texture: Texture) -> bool:
    return crop_texture.anisotropy > _SMEARED and crop_texture.along_across < _STRIPES


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


__all__ = ["LADDER", "CostModel", "DecodeResult", "Decoder", "DecoderConfig", "FrameStatus", "Region", "Symbol"]
