"""The camera CLI as a real process against a live gateway: a demo clip of a simulator's code, posted as codes
or streamed as frames, charged once; a refused key; and the frame stream's end-of-stream message.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from camera.demo import clip_images, write_clip
from gateway.domain.codes import mask_payment_code
from tests.cameras.conftest import charges, empty_frames, frame_socket, open_session, phone_video
from tests.support.live import LiveGateway

ROOT = Path(__file__).resolve().parents[2]
#: --send-frames streams the frames for the gateway to decode; without it the CLI decodes and posts the codes.
MODES = {"posts codes": [], "sends frames": ["--send-frames", "--max-fps", "30"]}
DEMO_FRAMES = 14  # showing the code, after the demo clip's 3 frames of the bare counter


async def run(*args: str) -> tuple[int, str, str]:
    """`python -m camera ARGS` in its own process; its exit status, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "camera",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def camera_cli(live: LiveGateway, clip: Path, mode: list[str], key: str | None = None) -> tuple[int, str, str]:
    """The camera CLI reading the clip, posting its codes or streaming its frames to the live gateway."""
    camera = ["--camera-id", live.credentials["camera_id"], "--key", key or live.credentials["camera_key"]]
    return await run("--source", str(clip), *mode, "--gateway", live.url, *camera, "--quiet")


async def demo_clip(live: LiveGateway, out: Path, view: str) -> str:
    """`demo-clip` against the gateway's in-process WeChat simulator, as the README runs it; the code it shows."""
    wallet = live.runtime.simulators["wechat"].bank
    issued_before = set(wallet.codes)
    args = ["--simulator", f"{live.url}/sim/wechat", "--out", str(out), "--view", view, "--frames", str(DEMO_FRAMES)]
    status, out_text, err = await run("demo-clip", *args)
    assert status == 0, err
    (code,) = set(wallet.codes) - issued_before
    assert f"{out}: {DEMO_FRAMES + 3} frames, wechat payment code {mask_payment_code(code)} ({view})" in out_text
    return code


async def phone_clip(live: LiveGateway, out: Path) -> str:
    """A hand-held phone at 30 cm, both codes on its screen, after two frames of the counter."""
    code = await live.payment_code("wechat")
    frames = [*empty_frames(2), *phone_video(code, code, DEMO_FRAMES + 1)]
    out.mkdir()
    for index, frame in enumerate(frames):
        (out / f"{index:03d}.jpg").write_bytes(frame)
    return code


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("clip_kind", ["closeup", "barcode_only", "phone"])
async def test_the_cli_reads_a_clip_and_the_gateway_charges_its_code_once(
    live: LiveGateway, tmp_path: Path, clip_kind: str, mode: str
) -> None:
    if clip_kind == "phone":
        clip = tmp_path / "clip"
        code = await phone_clip(live, clip)
    else:
        clip = tmp_path / "clip.mp4"
        code = await demo_clip(live, clip, clip_kind)
    opened = await open_session(live, 1250)
    assert opened.status_code == 201, opened.text

    status, out, err = await camera_cli(live, clip, MODES[mode])

    assert status == 0, err
    assert f"code {mask_payment_code(code)} -> charged PAID" in err
    assert "source_ended" in err
    if MODES[mode]:
        assert f"{DEMO_FRAMES + 3} frames sent" in err
    assert code not in err + out, "the CLI never shows the full payment code"
    assert charges(live) == 1
    session = (await live.terminal.request("GET", f"/v1/payments/scan-sessions/{opened.json()['session_id']}")).json()
    assert session["status"] == "CHARGED" and session["payment"]["status"] == "PAID"


async def test_without_an_open_session_the_cli_shows_the_refusal(live: LiveGateway, tmp_path: Path) -> None:
    code = await live.payment_code("wechat")
    clip = tmp_path / "clip.mp4"
    write_clip(clip_images(code, "closeup", 6), clip)
    status, _out, err = await camera_cli(live, clip, MODES["posts codes"])
    assert status == 0, err
    assert f"code {mask_payment_code(code)} -> refused: no_open_session (" in err
    assert charges(live) == 0


@pytest.mark.parametrize("mode", list(MODES))
async def test_the_cli_stops_at_once_on_a_refused_key_with_status_3(
    live: LiveGateway, tmp_path: Path, mode: str
) -> None:
    await open_session(live, 1250)
    clip = tmp_path / "clip.mp4"
    write_clip(clip_images(await live.payment_code("wechat"), "closeup", 40), clip)
    wrong_key = "ck_wrong_key"
    status, _out, err = await camera_cli(live, clip, MODES[mode], key=wrong_key)
    assert status == 3, err
    if MODES[mode]:
        assert "the gateway refused the camera key: 1008 invalid_camera_key" in err
        assert "0 frames sent" in err
    else:
        assert "refused: invalid_camera_key" in err
        assert err.count(" -> ") == 1, "the camera stops at the first refusal, not after the clip"
    assert "the gateway refused the camera key" in err
    assert "source_ended" not in err
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
