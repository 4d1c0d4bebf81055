"""`demo-clip`: a clip of a payment code issued by a channel simulator, to try the camera without a phone."""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from camera.codes import Wallet, mask, wallet_of
from camera.synthetic import (
    FRAME_HEIGHT,
    FRAME_WIDTH,
    Pose,
    close_up,
    clutter_scene,
    place,
    render_phone,
    render_screen,
)

#: How the customer shows the code, named like the generated set's categories (camera/synthetic.py).
VIEWS = ("closeup", "barcode_only")
LEAD_IN_FRAMES = 3  # the bare counter before the phone comes up: the clip starts with nothing to read
#: The in-process WeChat simulator of `./dev serve`.
DEFAULT_SIMULATOR = "http://127.0.0.1:8000/sim/wechat"
_FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}
_JPEG_QUALITY = 88


class SimulatorError(Exception):
    """The simulator could not be reached or did not issue a code."""


def _post_json(url: str, body: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked by issue_code
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise SimulatorError(f"{url} answered HTTP {error.code}") from error
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise SimulatorError(f"{url} is unreachable: {error}") from error
    except ValueError as error:
        raise SimulatorError(f"{url} did not answer JSON") from error
    if not isinstance(answer, dict):
        raise SimulatorError(f"{url} did not answer a JSON object")
    return answer


def issue_code(simulator: str, fault: str = "00", timeout_s: float = 5.0) -> str:
    """A fresh payment code of a new customer, from a simulator's `/_sim/` control API (the customer's phone)."""
    if not simulator.startswith(("http://", "https://")):
        raise SimulatorError("the simulator URL must start with http:// or https://")
    base = simulator.rstrip("/") + "/_sim"
    customer = _post_json(f"{base}/customers", {}, timeout_s)
    issued = _post_json(f"{base}/customers/{customer.get('customer_id')}/codes", {"fault": fault}, timeout_s)
    code = str(issued.get("auth_code", ""))
    if wallet_of(code) is None:
        raise SimulatorError(f"{simulator} issued no payment code")
    return code


def clip_images(code: str, view: str, frames: int, seed: int = 11) -> Iterator[np.ndarray]:
    """The counter, then `frames` frames of the customer showing `code`: close to the lens ("closeup", the QR
    filling the frame, its quiet zone cut) or as a wallet's barcode alone ("barcode_only", about 16 cm away).
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}")
    wallet = wallet_of(code) or Wallet.WECHAT
    rng = random.Random(seed)
    background = clutter_scene(rng)
    for _ in range(LEAD_IN_FRAMES):
        yield background
    if view == "closeup":
        screen = render_screen(rng, code, code, wallet, scale=16)
        for index in range(frames):
            scene = background.copy()
            close_up(scene, screen, "qr", random.Random(f"{seed}:{index}"))
            yield cv2.GaussianBlur(scene, (0, 0), 1.5)  # held closer than the lens focuses
        return
    phone = render_phone(rng, code, None, wallet, scale=12)
    for index in range(frames):  # the hand drifts a little
        scene = background.copy()
        pose = Pose(
            160 + 5 * math.sin(index / 4), 3 * math.sin(index / 5), 3 * math.cos(index / 6), 4 * math.sin(index)
        )
        place(scene, phone, pose, rng, offset_px=(4 * index, 10 * math.sin(index / 3)))
        yield cv2.GaussianBlur(scene, (0, 0), 0.7)


def write_clip(images: Iterator[np.ndarray], out: Path, fps: float = 10.0) -> int:
    """Write a video (`.mp4`, `.avi`) or, for any other name, a folder of JPEG frames; the number of frames."""
    fourcc = _FOURCC.get(out.suffix.lower())
    writer = None
    if fourcc is None:
        out.mkdir(parents=True, exist_ok=True)
    else:
        writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*fourcc), fps, (FRAME_WIDTH, FRAME_HEIGHT))
        if not writer.isOpened():
            raise OSError(f"cannot write a video to {out}")
    count = 0
    try:
        for image in images:
            count += 1
            if writer is not None:
                writer.write(image)
                continue
            ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
            if not ok:
                raise OSError("JPEG encoding failed")
            (out / f"{count:04d}.jpg").write_bytes(encoded.tobytes())
    finally:
        if writer is not None:
            writer.release()
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gateway-camera demo-clip",
        description="Ask a channel simulator for a payment code (as a customer's phone would) and write a clip of "
        "it being held up to the camera; stream it with `gateway-camera --source CLIP ...`.",
        epilog="Exit status: 0 the clip was written, 1 the simulator issued no code or the clip could not be "
        "written, 2 usage.",
    )
    parser.add_argument("--out", type=Path, required=True, help="a .mp4 or .avi video, or any other name: a folder")
    parser.add_argument(
        "--simulator",
        default=DEFAULT_SIMULATOR,
        help="the simulator's base URL: the gateway's /sim/<channel> in dev mode, or a standalone simulator's "
        f"(default {DEFAULT_SIMULATOR})",
    )
    parser.add_argument("--view", choices=VIEWS, default="closeup", help="how the code is shown (default closeup)")
    parser.add_argument("--fault", default="00", help="the code's last two digits: what the channel does (00 pays)")
    parser.add_argument("--frames", type=int, default=20, help="frames showing the code (after 3 of the counter)")
    args = parser.parse_args(argv)
    if not (len(args.fault) == 2 and args.fault.isdigit()):
        parser.error("--fault is two digits, e.g. 00")
    if args.frames <= 0:
        parser.error("--frames must be positive")
    try:
        code = issue_code(args.simulator, args.fault)
        count = write_clip(clip_images(code, args.view, args.frames), args.out)
    except (SimulatorError, OSError) as error:
        print(f"demo-clip: {error}", file=sys.stderr)
        return 1
    print(f"{args.out}: {count} frames, {wallet_of(code)} payment code {mask(code)} ({args.view})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
