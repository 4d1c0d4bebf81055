"""Symbol-reading engines behind one interface: zbar (one reused scanner, QR + Code128) and zxing-cpp."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from pyzbar import wrapper as zbar

# zbar's fourcc for 8-bit grayscale ("Y800").
_ZBAR_GRAY = 0x30303859


@dataclass(frozen=True)
class RawSymbol:
    text: str = field(repr=False)  # may be a payment credential: kept out of reprs that end up in logs
    symbology: str  # "QRCODE" or "CODE128"


class SymbolEngine(Protocol):
    def scan(self, gray: np.ndarray) -> list[RawSymbol]:
        """Read every QR code and Code128 barcode in a contiguous 8-bit grayscale image."""
        ...


class ZbarEngine:
    """zbar through pyzbar's ctypes bindings, keeping one scanner instead of pyzbar's one-per-call.

    Not thread-safe: a zbar scanner holds per-scan state, so each decoding thread owns its engine.
    """

    _SYMBOLOGIES = (zbar.ZBarSymbol.QRCODE, zbar.ZBarSymbol.CODE128)

    def __init__(self, line_step: int = 1) -> None:
        """`line_step` > 1 scans only every n-th row and column: faster, but blind to the smallest codes."""
        scanner = zbar.zbar_image_scanner_create()
        if not scanner:
            raise RuntimeError("zbar could not create an image scanner")
        self._scanner = scanner
        # Symbology 0 addresses every decoder: switch them all off, then enable only what wallets show.
        zbar.zbar_image_scanner_set_config(scanner, zbar.ZBarSymbol.NONE, zbar.ZBarConfig.CFG_ENABLE, 0)
        for symbology in self._SYMBOLOGIES:
            zbar.zbar_image_scanner_set_config(scanner, symbology, zbar.ZBarConfig.CFG_ENABLE, 1)
        # Symbol outlines are never used; not collecting them saves work on every scan line.
        zbar.zbar_image_scanner_set_config(scanner, zbar.ZBarSymbol.NONE, zbar.ZBarConfig.CFG_POSITION, 0)
        for density in (zbar.ZBarConfig.CFG_X_DENSITY, zbar.ZBarConfig.CFG_Y_DENSITY):
            zbar.zbar_image_scanner_set_config(scanner, zbar.ZBarSymbol.NONE, density, line_step)

    def scan(self, gray: np.ndarray) -> list[RawSymbol]:
        if gray.dtype != np.uint8 or gray.ndim != 2 or not gray.flags.c_contiguous:
            raise ValueError("zbar needs a contiguous 8-bit single-channel image")
        height, width = gray.shape
        image = zbar.zbar_image_create()
        if not image:
            raise MemoryError("zbar could not create an image")
        try:
            zbar.zbar_image_set_format(image, _ZBAR_GRAY)
            zbar.zbar_image_set_size(image, width, height)
            # No cleanup handler: numpy owns the buffer, which outlives the zbar image.
            zbar.zbar_image_set_data(image, gray.ctypes.data_as(ctypes.c_void_p), gray.size, None)
            if zbar.zbar_scan_image(self._scanner, image) <= 0:
                return []
            symbols = []
            symbol = zbar.zbar_image_first_symbol(image)
            while symbol:
                data = ctypes.string_at(zbar.zbar_symbol_get_data(symbol), zbar.zbar_symbol_get_data_length(symbol))
                symbology = zbar.ZBarSymbol(symbol.contents.type).name
                symbols.append(RawSymbol(data.decode("utf-8", errors="replace"), symbology))
                symbol = zbar.zbar_symbol_next(symbol)
            return symbols
        finally:
            zbar.zbar_image_destroy(image)

    def close(self) -> None:
        if self._scanner:
            zbar.zbar_image_scanner_destroy(self._scanner)
            self._scanner = None

    def __del__(self) -> None:
        self.close()


class ZxingEngine:
    """zxing-cpp, limited to the same two symbologies, reading bytes the way zbar does (binary-safe).

    The code's raw bytes are decoded as UTF-8 with replacement, never through zxing's character-set
    guessing or its human-readable decorations: a binary QR cannot raise and a payment code's digits
    arrive exactly as printed. Trying inverted codes is left to the decoder's ladder.
    """

    def __init__(self, try_downscale: bool = True, try_rotate: bool = True) -> None:
        """`try_rotate` False reads barcodes only along rows (half the work): QR codes are found at any angle."""
        import zxingcpp  # imported here so that zbar-only installs (and experiments) work without it

        self._zxing: Any = zxingcpp
        self._formats = zxingcpp.BarcodeFormats((zxingcpp.BarcodeFormat.QRCode, zxingcpp.BarcodeFormat.Code128))
        self._try_downscale = try_downscale
        self._try_rotate = try_rotate

    def scan(self, gray: np.ndarray) -> list[RawSymbol]:
        found = self._zxing.read_barcodes(
            gray,
            formats=self._formats,
            try_rotate=self._try_rotate,
            try_downscale=self._try_downscale,
            try_invert=False,
            text_mode=self._zxing.TextMode.Plain,
        )
        return [
            RawSymbol(
                bytes(symbol.bytes).decode("utf-8", errors="replace"),
                "QRCODE" if symbol.format == self._zxing.BarcodeFormat.QRCode else "CODE128",
            )
            for symbol in found
        ]


def zxing_available() -> bool:
    """zxing-cpp is a runtime dependency; False only in a trimmed install that left it out."""
    try:
        import zxingcpp  # noqa: F401
    except ImportError:
        return False
    return True
