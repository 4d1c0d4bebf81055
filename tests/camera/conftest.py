"""Shared fixtures for the camera tests: one decoder and a few generated frames."""

from __future__ import annotations

import random
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from camera.codes import Wallet
from camera.decode import Decoder, DecoderConfig
from camera.synthetic import CATEGORIES, Pose, Sample, clutter_scene, generate, place, render_phone

CLEAN = next(category for category in CATEGORIES if category.name == "clean")


# The tests run what ships: the default pipeline (zbar, then zxing-cpp) and the zbar-only mode. Its budget
# counts the decoding thread's CPU time, so a machine busy with other tests does not change what it reads.
ZBAR_ONLY = DecoderConfig(zxing_fallback=False)


@pytest.fixture(scope="session")
def decoder() -> Decoder:
    return Decoder()


@pytest.fixture(scope="session")
def zbar_only_decoder() -> Decoder:
    return Decoder(ZBAR_ONLY)


@pytest.fixture
def make_decoder() -> Callable[[], Decoder]:
    """A decoder factory for pipelines, which build their decoder on their own thread."""
    return Decoder


@pytest.fixture(scope="session")
def clean_sample() -> Sample:
    return generate(CLEAN, 3)


def _phone_frame(seed: int, *codes: tuple[str | None, str | None]) -> np.ndarray:
    """A clutter scene with one phone per (barcode text, QR text) pair, side by side."""
    rng = random.Random(seed)
    scene = clutter_scene(rng)
    for index, (barcode, qr_text) in enumerate(codes):
        offset = (index - (len(codes) - 1) / 2) * 320
        phone = render_phone(rng, barcode, qr_text, Wallet.ALIPAY)
        place(scene, phone, Pose(300, 0, 0, 0), random.Random(seed), offset_px=(offset, 0))
    return scene


def _encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return encoded.tobytes()


@pytest.fixture
def phone_frame() -> Callable[..., np.ndarray]:
    return _phone_frame


@pytest.fixture
def encode_jpeg() -> Callable[..., bytes]:
    return _encode_jpeg
