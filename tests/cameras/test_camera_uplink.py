"""`python -m camera --send-frames` as a real process against a live gateway, and the end-of-stream message."""

from __future__ import annotations

import asyncio
import json
import math
import random
import sys
from pathlib import Path

import cv2
import pytest
from websockets.exceptions import ConnectionClosed

from camera.codes import Wallet
from camera.synthetic import Pose, close_up, clutter_scene, place, render_phone, render_screen
from gateway.domain.codes import mask_payment_code
from tests.cameras.conftest import charges, empty_frames, encode_jpeg, frame_socket, open_session, phone_video
from tests.support.live import LiveGateway

ROOT = Path(__file__).resolve().parents[2]


def write_clip(folder: Path, frames: list[bytes]) -> Path:
    folder.mkdir()
    for index, frame in enumerate(frames):
        (folder / f"{index:03d}.jpg").write_bytes(frame)
    return folder


async def camera_cli(live: LiveGateway, clip: Path, key: str | None = None) -> tuple[int, str, str]:
    """Run the camera CLI in its own process, streaming the clip's frames; its exit status, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "camera",
        "--source",
        str(clip),
        "--send-frames",
        "--gateway",
        live.url,
        "--camera-id",
        live.credentials["camera_id"],
        "--key",
        key or live.credentials["camera_key"],
        "--max-fps",
        "30",
        "--quiet",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def close_up_video(code: str, frames: int, seed: int = 11) -> list[bytes]:
    """The customer holds the phone right up to the lens: the QR fills most of the frame, its quiet zone cut."""
    screen = render_screen(random.Random(seed), code, code, Wallet.WECHAT, scale=16)
    clip = []
    for index in range(frames):
        rng = random.Random(f"{seed}:{index}")
        scene = clutter_scene(rng)
        close_up(scene, screen, "qr", rng)
        clip.append(encode_jpeg(cv2.GaussianBlur(scene, (0, 0), 1.5)))
    return clip


def barcode_video(code: str, frames: int, seed: int = 12) -> list[bytes]:
    """A wallet showing only its barcode, held about 16 cm from the lens and drifting a little."""
    rng = random.Random(seed)
    background = clutter_scene(rng)
    phone = render_phone(rng, code, None, Wallet.WECHAT, scale=12)
    clip = []
    for index in range(frames):
        scene = background.copy()
        pose = Pose(
            160 + 5 * math.sin(index / 4), 3 * math.sin(index / 5), 3 * math.cos(index / 6), 4 * math.sin(index)
        )
        place(scene, phone, pose, rng, offset_px=(4 * index, 10 * math.sin(index / 3)))
        clip.append(encode_jpeg(cv2.GaussianBlur(scene, (0, 0), 0.7)))
    return clip


CLIPS = {
    "phone": lambda code: list(phone_video(code, code, 14)),
    "close_up": lambda code: close_up_video(code, 14),
    "barcode_only": lambda code: barcode_video(code, 14),
}


@pytest.mark.parametrize("clip_kind", list(CLIPS))
async def test_the_cli_streams_a_clip_and_the_gateway_charges_its_code_once(
    live: LiveGateway, tmp_path: Path, clip_kind: str
) -> None:
    code = await live.payment_code("wechat")
    opened = await open_session(live, 1250)
    assert opened.status_code == 201, opened.text
    clip = write_clip(tmp_path / "clip", [*empty_frames(2), *CLIPS[clip_kind](code)])

    status, out, err = await camera_cli(live, clip)

    assert status == 0, err
    assert f"code {mask_payment_code(code)} -> charged PAID" in err
    assert "16 frames sent" in err and "source_ended" in err
    assert code not in err + out, "the CLI never shows the full payment code"
    assert charges(live) == 1
    session = (await live.terminal.request("GET", f"/v1/payments/scan-sessions/{opened.json()['session_id']}")).json()
    assert session["status"] == "CHARGED" and session["payment"]["status"] == "PAID"


async def test_the_cli_reports_a_refused_key_and_exits_3(live: LiveGateway, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip", empty_frames(1))
    status, _out, err = await camera_cli(live, clip, key="ck_wrong_key")
    assert status == 3
    assert "the gateway closed the stream: 1008 invalid_camera_key" in err
    assert charges(live) == 0


async def test_after_the_end_message_every_frame_is_answered_then_the_stream_closes_normally(
    live: LiveGateway,
) -> None:
    frames = empty_frames(6)
    async with frame_socket(live) as socket:
        assert json.loads(await socket.recv())["type"] == "ready"
        for frame in frames:
            await socket.send(frame)
        await socket.send('{"type": "end"}')
        reports = []
        try:
            async for raw in socket:
                reports.append(json.loads(raw))
        except ConnectionClosed:
            pass
        assert socket.close_code == 1000
        assert socket.close_reason.startswith("end of stream")
    decoded = [report for report in reports if report["type"] == "frame"]
    # Frames pushed faster than they decode are dropped, newest wins: the last one is always answered.
    assert decoded[-1]["frame"] == len(frames)
    assert len(decoded) + decoded[-1]["dropped"] == len(frames)
    assert {report["status"] for report in decoded} == {"no_code"}
