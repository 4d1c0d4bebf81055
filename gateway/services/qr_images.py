"""QR images of payment codes (PNG and SVG, error correction M), rendered off the event loop and cached per order."""

from __future__ import annotations

import io
import re
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

import anyio.to_thread
import qrcode
import qrcode.constants
from PIL import Image
from qrcode.image.svg import SvgPathFillImage

#: Default side in pixels: about 8 px per module for a 2 h channel code, readable from a screen at arm's length.
DEFAULT_SIZE_PX = 512
MIN_SIZE_PX = 128
MAX_SIZE_PX = 2048
#: Quiet zone in modules; the QR standard asks for 4.
DEFAULT_MARGIN = 4
MAX_MARGIN = 16

_SVG_SIZE = re.compile(rb'width="[^"]*" height="[^"]*"')


class ImageFormat(StrEnum):
    PNG = "png"
    SVG = "svg"

    @property
    def media_type(self) -> str:
        return "image/png" if self is ImageFormat.PNG else "image/svg+xml"


@dataclass(frozen=True)
class QrImageSpec:
    """What to draw: the code's content, the format, the side in pixels and the quiet zone in modules."""

    content: str
    image_format: ImageFormat
    size_px: int = DEFAULT_SIZE_PX
    margin: int = DEFAULT_MARGIN


def render(spec: QrImageSpec) -> bytes:
    """The image bytes; modules are whole pixels, so a PNG is at least `size_px` wide, centred on white."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=spec.margin, box_size=10)
    code.add_data(spec.content)
    code.make(fit=True)
    if spec.image_format is ImageFormat.SVG:
        # The SVG factory draws box_size / 10 mm per module: with 10, the viewBox counts whole modules.
        svg = code.make_image(image_factory=SvgPathFillImage).to_string()
        return _SVG_SIZE.sub(f'width="{spec.size_px}" height="{spec.size_px}"'.encode(), svg, count=1)
    # One pixel per module, scaled up with nearest-neighbour in C: much faster than drawing boxes, and 1-bit.
    matrix = code.get_matrix()
    side_modules = len(matrix)
    modules = Image.new("1", (side_modules, side_modules), 1)
    modules.putdata([0 if dark else 1 for row in matrix for dark in row])
    box = max(1, spec.size_px // side_modules)
    drawn = modules.resize((side_modules * box, side_modules * box), Image.Resampling.NEAREST)
    side = max(spec.size_px, drawn.width)
    canvas = Image.new("1", (side, side), 1)
    canvas.paste(drawn, ((side - drawn.width) // 2, (side - drawn.height) // 2))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


class QrImageCache:
    """Rendered images by order and spec, least recently used dropped first."""

    def __init__(self, max_entries: int = 1024) -> None:
        self._max_entries = max_entries
        self._images: OrderedDict[tuple[str, QrImageSpec], bytes] = OrderedDict()

    async def image(self, order_id: str, spec: QrImageSpec) -> bytes:
        key = (order_id, spec)
        cached = self._images.get(key)
        if cached is not None:
            self._images.move_to_end(key)
            return cached
        rendered = await anyio.to_thread.run_sync(render, spec)
        self._images[key] = rendered
        if len(self._images) > self._max_entries:
            self._images.popitem(last=False)
        return rendered
