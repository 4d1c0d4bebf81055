"""Deterministic generator of realistic camera frames: wallet payment-code screens, empty scenes, distractors."""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import qrcode
from qrcode.constants import ERROR_CORRECT_M

from camera.codes import Wallet

FRAME_WIDTH = 1280
FRAME_HEIGHT = 720
_FOCAL_PX = 1000.0
_PHONE_MM = (70.0, 145.0)

# Code128 symbol widths (bar, space, bar, space, bar, space) for values 0..105, then the stop symbol.
_CODE128_TABLE = """
212222 222122 222221 121223 121322 131222 122213 122312 132212 221213 221312 231212 112232 122132
122231 113222 123122 123221 223211 221132 221231 213212 223112 312131 311222 321122 321221 312212
322112 322211 212123 212321 232121 111323 131123 131321 112313 132113 132311 211313 231113 231311
112133 112331 132131 113123 113321 133121 313121 211331 231131 213113 213311 213131 311123 311321
331121 312113 312311 332111 314111 221411 431111 111224 111422 121124 121421 141122 141221 112214
112412 122114 122411 142112 142211 241211 221114 413111 241112 134111 111242 121142 121241 114212
124112 124211 411212 421112 421211 212141 214121 412121 111143 111341 131141 114113 114311 411113
411311 113141 114131 311141 411131 211412 211214 211232 2331112
"""
_CODE128_PATTERNS = _CODE128_TABLE.split()
_CODE128_START_C = 105
_CODE128_SWITCH_TO_B = 100
_CODE128_STOP = 106
_CODE128_QUIET_MODULES = 10


def code128_values(digits: str) -> list[int]:
    """Symbol values (start, data, check, stop) encoding `digits` in code set C, a trailing odd digit in B."""
    if not digits.isdigit():
        raise ValueError("code128_values encodes digit strings only")
    values = [_CODE128_START_C]
    even_part = len(digits) - len(digits) % 2
    values += [int(digits[i : i + 2]) for i in range(0, even_part, 2)]
    if len(digits) % 2:
        values += [_CODE128_SWITCH_TO_B, ord(digits[-1]) - 32]
    checksum = (values[0] + sum(pos * value for pos, value in enumerate(values[1:], start=1))) % 103
    return [*values, checksum, _CODE128_STOP]


def code128_modules(digits: str) -> np.ndarray:
    """One row of modules (1 = bar) for `digits`, quiet zones included."""
    modules: list[int] = [0] * _CODE128_QUIET_MODULES
    for value in code128_values(digits):
        for index, width in enumerate(_CODE128_PATTERNS[value]):
            modules += [1 - index % 2] * int(width)
    modules += [0] * _CODE128_QUIET_MODULES
    return np.array(modules, dtype=np.uint8)


def qr_modules(text: str, border: int = 4) -> np.ndarray:
    """QR module matrix (1 = dark) for `text`, with `border` quiet modules."""
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=border)
    qr.add_data(text)
    qr.make(fit=True)
    return np.array(qr.get_matrix(), dtype=np.uint8)


def _modules_to_pixels(modules: np.ndarray, width: int, height: int) -> np.ndarray:
    """Render modules (1 = dark) as a white-background grayscale image of exactly width x height.

    Drawn at a whole number of pixels a module, then averaged down: a module narrower than a pixel
    turns gray at its edges, as on a phone's screen, instead of being rounded to 1 or 2 pixels, which
    would change a barcode's width ratios and make it unreadable at any distance.
    """
    light = np.where(modules > 0, 0, 255).astype(np.uint8)
    if light.ndim == 1:
        light = light[np.newaxis, :]
    rows, cols = light.shape
    repeat_x, repeat_y = max(1, -(-4 * width // cols)), max(1, -(-4 * height // rows))
    fine = light.repeat(repeat_y, axis=0).repeat(repeat_x, axis=1)
    return cv2.resize(fine, (width, height), interpolation=cv2.INTER_AREA)


def random_payment_code(rng: random.Random, wallet: Wallet | None = None) -> str:
    wallet = wallet or rng.choice(list(Wallet))
    prefix, length = {
        Wallet.WECHAT: (f"1{rng.randint(0, 5)}", 18),
        Wallet.ALIPAY: (str(rng.randint(25, 30)), rng.choice((18, 18, 18, 16, 20, 24))),
        Wallet.UNIONPAY: ("62", 19),
    }[wallet]
    return prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix)))


def random_unsupported_code(rng: random.Random) -> str:
    """A digit code of wallet length whose prefix no supported wallet uses."""
    return str(rng.choice((4, 5, 7, 8, 9))) + "".join(rng.choice("0123456789") for _ in range(17))


_WALLET_HEADER_BGR = {
    Wallet.WECHAT: (96, 193, 7),
    Wallet.ALIPAY: (255, 119, 22),
    Wallet.UNIONPAY: (60, 40, 220),
}


@dataclass(frozen=True)
class Screen:
    """A rendered phone and where its codes are on it (x, y, width, height of the modules, quiet zone excluded)."""

    image: np.ndarray
    barcode_box: tuple[float, float, float, float] | None
    qr_box: tuple[float, float, float, float] | None


def render_phone(
    rng: random.Random, code: str | None, qr_text: str | None, wallet: Wallet, scale: int = 4
) -> np.ndarray:
    """A phone (bezel + screen, BGR, portrait) showing a wallet's pay screen: Code128 on top, QR below.

    At the default 4 pixels a millimetre a barcode's bars are about one pixel wide: fine for a phone
    seen from 25 cm or more, too coarse for one held close; raise `scale` for those.
    """
    return render_screen(rng, code, qr_text, wallet, scale).image


def render_screen(rng: random.Random, code: str | None, qr_text: str | None, wallet: Wallet, scale: int = 4) -> Screen:
    """`render_phone` at `scale` pixels per millimetre, with the codes' boxes (close-ups zoom into them)."""
    width, height = int(_PHONE_MM[0] * scale), int(_PHONE_MM[1] * scale)
    phone = np.zeros((height, width, 3), np.uint8)
    phone[:] = rng.choice(((20, 20, 20), (45, 45, 50), (200, 200, 205)))
    bezel = 3 * scale
    screen = phone[bezel:-bezel, bezel:-bezel]
    screen_h, screen_w = screen.shape[:2]
    screen[:] = _WALLET_HEADER_BGR[wallet]
    card_top, card_margin = int(screen_h * 0.14), int(screen_w * 0.04)
    card = screen[card_top : screen_h - card_margin, card_margin : screen_w - card_margin]
    card[:] = (250, 250, 250)
    card_h, card_w = card.shape[:2]
    origin_x, origin_y = bezel + card_margin, bezel + card_top  # the card's corner in phone pixels
    text_scale = scale / 4
    cv2.putText(
        screen,
        "Pay",
        (card_margin, card_top - int(12 * text_scale)),
        cv2.FONT_HERSHEY_SIMPLEX,
        1.2 * text_scale,
        (255, 255, 255),
        max(1, int(2 * text_scale)),
    )
    barcode_box = qr_box = None
    if code is not None:
        bar_w, bar_h = int(card_w * 0.86), int(card_w * 0.22)
        bar_x, bar_y = (card_w - bar_w) // 2, int(card_h * 0.06)
        modules = code128_modules(code)
        bars = _modules_to_pixels(modules, bar_w, bar_h)
        card[bar_y : bar_y + bar_h, bar_x : bar_x + bar_w] = bars[..., np.newaxis]
        quiet = bar_w * _CODE128_QUIET_MODULES / len(modules)
        barcode_box = (origin_x + bar_x + quiet, float(origin_y + bar_y), bar_w - 2 * quiet, float(bar_h))
        cv2.putText(
            card,
            f"{code[:4]} **** Tap to view",
            (bar_x, bar_y + bar_h + int(28 * text_scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.7 * text_scale,
            (90, 90, 90),
            max(1, int(2 * text_scale)),
        )
    if qr_text is not None:
        qr_w = int(card_w * 0.62)
        qr_x, qr_y = (card_w - qr_w) // 2, int(card_h * 0.36)
        modules = qr_modules(qr_text)
        card[qr_y : qr_y + qr_w, qr_x : qr_x + qr_w] = _modules_to_pixels(modules, qr_w, qr_w)[..., np.newaxis]
        quiet = qr_w * 4 / len(modules)
        qr_box = (origin_x + qr_x + quiet, origin_y + qr_y + quiet, qr_w - 2 * quiet, qr_w - 2 * quiet)
    return Screen(phone, barcode_box, qr_box)


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    around_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    around_x = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    around_z = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return around_z @ around_x @ around_y


@dataclass(frozen=True)
class Pose:
    """Where the phone is relative to the camera: distance in mm and angles in degrees."""

    distance_mm: float
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0


def place(
    scene: np.ndarray,
    phone: np.ndarray,
    pose: Pose,
    rng: random.Random,
    offset_px: tuple[float, float] | None = None,
) -> None:
    """Project the phone into the scene (in place) as a pinhole camera would see it at `pose`.

    The phone lands at a random spot that keeps it in frame, or `offset_px` from the frame's centre.
    """
    half_w, half_h = _PHONE_MM[0] / 2, _PHONE_MM[1] / 2
    corners_mm = np.array([[-half_w, -half_h, 0], [half_w, -half_h, 0], [half_w, half_h, 0], [-half_w, half_h, 0]])
    rotated = corners_mm @ _rotation(*(math.radians(a) for a in (pose.yaw, pose.pitch, pose.roll))).T
    rotated[:, 2] += pose.distance_mm
    projected = _FOCAL_PX * rotated[:, :2] / rotated[:, 2:3]
    span = projected.max(axis=0) - projected.min(axis=0)
    # Keep the whole phone in the frame: the operator holds it up to the camera, not half outside it.
    frame_h, frame_w = scene.shape[:2]
    slack_x = max(0.0, (frame_w - span[0]) / 2 - 10)
    slack_y = max(0.0, (frame_h - span[1]) / 2 - 10)
    if offset_px is None:
        offset_px = (rng.uniform(-slack_x, slack_x), rng.uniform(-slack_y, slack_y))
    centre = np.array([frame_w / 2 + offset_px[0], frame_h / 2 + offset_px[1]])
    target = (projected - (projected.max(axis=0) + projected.min(axis=0)) / 2 + centre).astype(np.float32)
    h, w = phone.shape[:2]
    source = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    _warp_onto(scene, phone, cv2.getPerspectiveTransform(source, target))


def _warp_onto(scene: np.ndarray, image: np.ndarray, homography: np.ndarray) -> None:
    """Draw `image` into `scene` (in place) through `homography`, with anti-aliased edges."""
    h, w = image.shape[:2]
    size = (scene.shape[1], scene.shape[0])
    warped = cv2.warpPerspective(image, homography, size, flags=cv2.INTER_AREA)
    coverage = cv2.warpPerspective(np.full((h, w), 255, np.uint8), homography, size, flags=cv2.INTER_LINEAR)
    alpha = (coverage.astype(np.float32) / 255.0)[..., np.newaxis]
    scene[:] = (warped * alpha + scene * (1 - alpha)).astype(np.uint8)


def close_up(scene: np.ndarray, screen: Screen, target: str, rng: random.Random) -> None:
    """Draw the phone so close that one code fills most of the frame, an edge of the frame inside its quiet zone.

    `target` is "qr" (the QR spans 60-100% of the frame's height) or "barcode" (80-100% of its width).
    """
    frame_h, frame_w = scene.shape[:2]
    box = screen.qr_box if target == "qr" else screen.barcode_box
    if box is None:
        raise ValueError(f"the screen shows no {target}")
    x, y, w, h = box
    if target == "qr":
        side = rng.uniform(0.6, 1.0) * frame_h
        size, module = (side, side), side / 21  # a version-1 QR: 21 modules
    else:
        width = rng.uniform(0.8, 1.0) * frame_w
        size, module = (width, width * h / w), width / 134  # about 134 modules between the quiet zones
    angle = math.radians(rng.uniform(-4, 4))
    half = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * np.array(size) / 2
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    corners = half @ rotation.T + np.array([[rng.uniform(-0.02, 0.02) * size[0] for _ in range(2)] for _ in range(4)])
    # Shrink what does not fit (a tilted code as tall as the frame), then touch a random edge: the quiet
    # zone on that side lies (mostly) outside the frame.
    span = corners.max(axis=0) - corners.min(axis=0)
    corners *= min(1.0, frame_w / span[0], frame_h / span[1])
    low, high = corners.min(axis=0), corners.max(axis=0)
    shift = np.array([rng.uniform(-low[0], frame_w - high[0]), rng.uniform(-low[1], frame_h - high[1])])
    edge = rng.choice(("top", "bottom") if target == "qr" else ("left", "right"))
    vertical = edge in ("top", "bottom")
    room = (frame_h if vertical else frame_w) - (high[1] - low[1] if vertical else high[0] - low[0])
    gap = rng.uniform(0, min(module, room))  # never so far that the opposite edge cuts the code itself
    if edge == "top":
        shift[1] = -low[1] + gap
    elif edge == "bottom":
        shift[1] = frame_h - high[1] - gap
    elif edge == "left":
        shift[0] = -low[0] + gap
    else:
        shift[0] = frame_w - high[0] - gap
    source = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)
    _warp_onto(scene, screen.image, cv2.getPerspectiveTransform(source, (corners + shift).astype(np.float32)))


_RECEIPT_TEXT = "PAY TOTAL QTY PRICE CASH CARD THANK YOU MILK BREAD RICE TEA 12.50 38.00 VAT NO. 0042"
_WORDS = _RECEIPT_TEXT.split()


def clutter_scene(
    rng: random.Random, busy: bool = False, size: tuple[int, int] = (FRAME_WIDTH, FRAME_HEIGHT)
) -> np.ndarray:
    """A shop-counter-like background (`size` is width, height): gradient, shapes, stripes, text, sensor texture."""
    frame_w, frame_h = size
    nprng = np.random.default_rng(rng.getrandbits(32))
    low, high = np.array([rng.randint(30, 140) for _ in range(3)]), np.array([rng.randint(100, 230) for _ in range(3)])
    ramp = np.linspace(0, 1, frame_w, dtype=np.float32)[np.newaxis, :, np.newaxis]
    scene = (low + (high - low) * ramp).repeat(frame_h, axis=0).astype(np.uint8)
    for _ in range(rng.randint(6, 14) * (2 if busy else 1)):
        colour = tuple(rng.randint(0, 255) for _ in range(3))
        x, y = rng.randint(0, frame_w), rng.randint(0, frame_h)
        if rng.random() < 0.5:
            cv2.rectangle(scene, (x, y), (x + rng.randint(20, 300), y + rng.randint(20, 200)), colour, -1)
        else:
            cv2.ellipse(
                scene, (x, y), (rng.randint(10, 150), rng.randint(10, 100)), rng.uniform(0, 180), 0, 360, colour, -1
            )
    for _ in range(rng.randint(1, 3)):  # keyboards, shelves, striped packaging: barcode-like texture
        x, y, w, h = rng.randint(0, 1100), rng.randint(0, 600), rng.randint(60, 260), rng.randint(30, 120)
        position = x
        while position < x + w:
            stripe = rng.randint(1, 6)
            if rng.random() < 0.5:
                cv2.rectangle(scene, (position, y), (position + stripe, y + h), (20, 20, 20), -1)
            position += stripe
    for _ in range(rng.randint(3, 8) * (4 if busy else 1)):
        text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 5)))
        origin = (rng.randint(0, frame_w - 100), rng.randint(20, frame_h))
        shade = rng.randint(0, 60) if rng.random() < 0.7 else rng.randint(200, 255)
        cv2.putText(
            scene, text, origin, cv2.FONT_HERSHEY_SIMPLEX, rng.uniform(0.4, 1.4), (shade,) * 3, rng.randint(1, 3)
        )
    grain = cv2.GaussianBlur(nprng.normal(0, 6, scene.shape).astype(np.float32), (0, 0), 1.5)
    return np.clip(scene.astype(np.float32) + grain, 0, 255).astype(np.uint8)


def _add_noise(image: np.ndarray, sigma: float, nprng: np.random.Generator) -> np.ndarray:
    return np.clip(image.astype(np.float32) + nprng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def _motion_blur(image: np.ndarray, length: int, angle_deg: float) -> np.ndarray:
    line = np.zeros((length, length), np.float32)
    line[length // 2, :] = 1.0
    rotation = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle_deg, 1.0)
    kernel = cv2.warpAffine(line, rotation, (length, length))
    return cv2.filter2D(image, -1, kernel / kernel.sum())


def _glare(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """Specular reflection off the phone glass: a bright, soft, partly saturating blob near the centre."""
    spot = np.zeros(image.shape[:2], np.float32)
    ys, xs = np.nonzero(image.max(axis=2) > 235)  # the bright screen is where a reflection shows
    cx, cy = (int(np.median(xs)), int(np.median(ys))) if len(xs) else (image.shape[1] // 2, image.shape[0] // 2)
    spread = max(20, int(math.sqrt(len(xs)) * 0.25))
    centre = (cx + rng.randint(-spread, spread), cy + rng.randint(-spread, spread))
    axes = (rng.randint(spread // 2, spread), rng.randint(spread // 3, spread * 2 // 3))
    cv2.ellipse(spot, centre, axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(spot, (0, 0), max(axes) * 0.4)[..., np.newaxis]
    strength = rng.uniform(0.8, 1.1)
    return np.clip(image + mask * strength * 255.0, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Sample:
    jpeg: bytes  # the frame as the camera would deliver it, compression artefacts included
    # What a decoder should report: the payment code, or the text of another code (a URL) that must never
    # be charged; empty when the frame holds nothing to read.
    expected: str

    def image(self) -> np.ndarray:
        return np.asarray(cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_COLOR))


@dataclass(frozen=True)
class Category:
    """One kind of frame: how the phone is posed and which degradation the camera adds.

    `view` is "phone" (posed in the scene), "qr_closeup" or "barcode_closeup" (one code fills the frame);
    a camera of `frame_size` (width, height) sees the scene rendered at `downscale` times that size.
    """

    name: str
    pose: Callable[[random.Random], Pose]
    degrade: Callable[[np.ndarray, random.Random, np.random.Generator], np.ndarray] = field(
        default=lambda image, rng, nprng: image
    )
    content: str = "payment"  # payment | barcode (a payment code, no QR) | url | empty | busy | distractor
    jpeg_quality: tuple[int, int] = (75, 92)
    view: str = "phone"
    frame_size: tuple[int, int] = (FRAME_WIDTH, FRAME_HEIGHT)
    downscale: int = 1


def _handheld(rng: random.Random) -> Pose:
    return Pose(rng.uniform(260, 380), rng.uniform(-12, 12), rng.uniform(-12, 12), rng.uniform(-15, 15))


def _darken(image: np.ndarray, rng: random.Random, nprng: np.random.Generator) -> np.ndarray:
    dimmed = image.astype(np.float32) * rng.uniform(0.06, 0.12)
    return _add_noise(dimmed.astype(np.uint8), rng.uniform(2, 5), nprng)


def _flatten_contrast(image: np.ndarray, rng: random.Random, nprng: np.random.Generator) -> np.ndarray:
    floor, span = rng.uniform(70, 150), rng.uniform(16, 28)
    return (floor + image.astype(np.float32) * span / 255.0).astype(np.uint8)


def _screen_photo(image: np.ndarray, rng: random.Random, nprng: np.random.Generator) -> np.ndarray:
    """A phone screen filmed by a camera: moire fringes (its pixel grid beating with the sensor's) and the
    dark bands of a display refreshing while a rolling shutter reads the rows.
    """
    h, w = image.shape[:2]
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, math.pi)
    along = cols * math.cos(angle) + rows * math.sin(angle)
    across = -cols * math.sin(angle) + rows * math.cos(angle)
    fringes = np.cos(2 * math.pi * along / rng.uniform(2.5, 4.5)) * np.cos(2 * math.pi * across / rng.uniform(25, 70))
    gain = 1.0 + rng.uniform(0.08, 0.16) * fringes
    band_period, band_depth = rng.uniform(90, 260), rng.uniform(0.2, 0.4)
    bands = 0.5 + 0.5 * np.sin(2 * math.pi * rows / band_period + rng.uniform(0, 2 * math.pi))
    gain *= 1.0 - band_depth * bands**3
    return np.clip(image.astype(np.float32) * gain[..., np.newaxis], 0, 255).astype(np.uint8)


def _webcam(image: np.ndarray, rng: random.Random, nprng: np.random.Generator) -> np.ndarray:
    """A cheap 640x480 webcam: soft lens, strong sensor noise."""
    return _add_noise(cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 0.8)), rng.uniform(3, 7), nprng)


def _defocus(sigma: tuple[float, float]) -> Callable[[np.ndarray, random.Random, np.random.Generator], np.ndarray]:
    """A phone held closer than the lens focuses: a soft blur in proportion to the code's size in the frame."""
    return lambda image, rng, nprng: cv2.GaussianBlur(image, (0, 0), rng.uniform(*sigma))


def _close(rng: random.Random) -> Pose:
    return Pose(rng.uniform(180, 250), rng.uniform(-8, 8), rng.uniform(-8, 8), rng.uniform(-10, 10))


CATEGORIES: tuple[Category, ...] = (
    Category("clean", _handheld),
    Category(
        "perspective",
        lambda r: Pose(
            r.uniform(260, 360), r.choice((-1, 1)) * r.uniform(30, 48), r.uniform(-30, 30), r.uniform(-20, 20)
        ),
    ),
    Category(
        "rotation", lambda r: Pose(r.uniform(260, 380), r.uniform(-10, 10), r.uniform(-10, 10), r.uniform(0, 360))
    ),
    Category("far", lambda r: Pose(r.uniform(420, 560), r.uniform(-10, 10), r.uniform(-10, 10), r.uniform(-20, 20))),
    Category("blur", _handheld, lambda im, r, n: cv2.GaussianBlur(im, (0, 0), r.uniform(1.3, 2.1))),
    Category("motion_blur", _handheld, lambda im, r, n: _motion_blur(im, r.randint(5, 9), r.uniform(0, 180))),
    Category("glare", _handheld, lambda im, r, n: _glare(im, r)),
    Category("dark", _handheld, _darken),
    Category("noise", _handheld, lambda im, r, n: _add_noise(im, r.uniform(18, 30), n)),
    Category("low_contrast", _handheld, _flatten_contrast),
    Category("jpeg", _handheld, jpeg_quality=(8, 16)),
    Category("closeup", _close, _defocus((1.0, 4.0)), view="qr_closeup"),
    Category("barcode_closeup", _close, _defocus((0.8, 2.2)), view="barcode_closeup"),
    Category("screen_moire", _handheld, _screen_photo),
    Category("webcam_640x480", _handheld, _webcam, jpeg_quality=(60, 85), frame_size=(640, 480), downscale=2),
    Category(
        "portrait_tilted",
        lambda r: Pose(
            r.uniform(220, 320), r.uniform(-10, 10), r.choice((-1, 1)) * r.uniform(35, 55), r.uniform(-10, 10)
        ),
    ),
    Category("qr_and_barcode", _close),  # both codes large and readable: one code, one charge
    # A wallet showing only its barcode, held 10-16 cm from the lens: its 0.3 mm bars span 1.8-3 pixels.
    # Much farther, a 19-digit barcode drops well below 2 pixels a bar at 720p and no decoder reads it.
    Category(
        "barcode_only",
        lambda r: Pose(r.uniform(100, 160), r.uniform(-8, 8), r.uniform(-8, 8), r.uniform(-10, 10)),
        content="barcode",
    ),
    Category("url_qr", _handheld, content="url"),  # read, reported as not a payment code, never charged
    Category("empty", _handheld, content="empty"),
    Category("busy", _handheld, content="busy"),
    Category("distractor", _handheld, content="distractor"),
)


def generate(category: Category, seed: int) -> Sample:
    """One frame of `category`; the same (category, seed) always gives the same frame."""
    rng = random.Random(f"{category.name}:{seed}")
    nprng = np.random.default_rng(rng.getrandbits(32))
    width, height = category.frame_size
    # A downscaled camera sees the scene at `downscale` times its resolution, then its sensor averages it down.
    size = (width * category.downscale, height * category.downscale)
    scene = clutter_scene(rng, busy=category.content == "busy", size=size)
    expected = ""
    wallet = rng.choice(list(Wallet))
    if category.content == "payment" and category.view != "phone":
        expected = random_payment_code(rng, wallet)
        screen = render_screen(rng, expected, expected, wallet, scale=16)
        close_up(scene, screen, "qr" if category.view == "qr_closeup" else "barcode", rng)
    elif category.content == "payment":
        expected = random_payment_code(rng, wallet)
        place(scene, render_phone(rng, expected, expected, wallet), category.pose(rng), rng)
    elif category.content == "barcode":
        expected = random_payment_code(rng, wallet)
        pose = category.pose(rng)
        # Held this close the phone is taller than the frame: the customer aims its barcode (a fifth of
        # the way down the screen) at the lens, so the phone's middle sits below the frame's.
        offset = (rng.uniform(-150, 150), 0.3 * _FOCAL_PX * _PHONE_MM[1] / pose.distance_mm)
        place(scene, render_phone(rng, expected, None, wallet, scale=12), pose, rng, offset_px=offset)
    elif category.content == "url":
        expected = f"https://shop.example.com/menu?table={rng.randint(1, 99)}"
        place(scene, render_phone(rng, None, expected, wallet), category.pose(rng), rng)
    elif category.content == "distractor":
        if rng.random() < 0.5:
            url = f"https://shop.example.com/menu?table={rng.randint(1, 99)}"
            place(scene, render_phone(rng, None, url, wallet), category.pose(rng), rng)
        else:
            other = random_unsupported_code(rng)
            place(scene, render_phone(rng, other, other, wallet), category.pose(rng), rng)
    if category.downscale > 1:
        scene = cv2.resize(scene, (width, height), interpolation=cv2.INTER_AREA)
    # Every camera adds a little optical blur and sensor noise; the category then adds its own trouble.
    image = cv2.GaussianBlur(scene, (0, 0), rng.uniform(0.5, 0.9))
    image = _add_noise(image, rng.uniform(1.5, 4), nprng)
    image = category.degrade(image, rng, nprng)
    quality = rng.randint(*category.jpeg_quality)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return Sample(encoded.tobytes(), expected)


def generate_set(
    per_category: int, seed: int, categories: tuple[Category, ...] = CATEGORIES
) -> Iterator[tuple[Category, int, Sample]]:
    for category in categories:
        for index in range(per_category):
            yield category, index, generate(category, seed * 100_003 + index)


def write_set(out_dir: Path, per_category: int, seed: int, categories: tuple[Category, ...] = CATEGORIES) -> list[Path]:
    """Write `category/NNNN.jpg` with `NNNN.txt` (expected text) beside it; return the category folders."""
    folders: dict[str, Path] = {}
    for category, index, sample in generate_set(per_category, seed, categories):
        folder = folders.setdefault(category.name, out_dir / category.name)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{index:04d}.jpg").write_bytes(sample.jpeg)
        (folder / f"{index:04d}.txt").write_text(sample.expected)
    return list(folders.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m camera.synthetic", description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--per-category", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    for folder in write_set(args.out_dir, args.per_category, args.seed):
        print(folder)


if __name__ == "__main__":
    main()
