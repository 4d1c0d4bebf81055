"""CLI and generator-command tests: JSON-line sink, gateway HTTP sink on loopback, exit statuses, masking,
the demo clip, set layout.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from camera.__main__ import StatusLine
from camera.__main__ import main as camera_main
from camera.codes import mask
from camera.decode import FrameStatus
from camera.pipeline import CodePipeline, EventKind, PipelineEvent
from camera.sources import open_source
from camera.synthetic import CATEGORIES
from camera.synthetic import main as synthetic_main

#: (path, headers, JSON body) of a request -> (status, JSON answer)
Answer = Callable[[str, dict[str, str], dict[str, Any]], tuple[int, dict[str, Any]]]
SIM_CODE = "134567890123456700"


@contextlib.contextmanager
def json_server(answer: Answer) -> Iterator[tuple[str, list[tuple[str, dict[str, str], dict[str, Any]]]]]:
    """A loopback HTTP server answering JSON POSTs; its base URL and the requests it received."""
    received: list[tuple[str, dict[str, str], dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            headers = dict(self.headers.items())
            received.append((self.path, headers, body))
            status, reply = answer(self.path, headers, body)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", received
    finally:
        server.shutdown()
        thread.join(timeout=5)


def problem(status: int, code: str, detail: str) -> tuple[int, dict[str, Any]]:
    return status, {"type": f"/problems/{code}", "status": status, "code": code, "detail": detail}


def post_codes(folder: Path, gateway: str, *extra: str) -> int:
    return camera_main(
        ["--source", str(folder), "--gateway", gateway, "--camera-id", "cam-1", "--key", "k-secret", "--quiet", *extra]
    )


@pytest.fixture
def code_folder(tmp_path: Path, clean_sample) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(5):
        (folder / f"{index}.jpg").write_bytes(clean_sample.jpeg)
    return folder


def test_cli_prints_one_json_line_per_code_and_masks_the_status_line(code_folder, clean_sample, capsys) -> None:
    assert camera_main(["--source", str(code_folder)]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["code"] for line in lines] == [clean_sample.expected]
    assert lines[0]["wallet"]
    assert clean_sample.expected not in err
    assert "source_ended" in err


def test_cli_posts_codes_with_the_camera_key_and_shows_what_the_gateway_answered(
    code_folder, clean_sample, capsys
) -> None:
    charged = {"session_id": "scn_1", "status": "CHARGED", "payment": {"order_id": "ord_1", "status": "PAID"}}
    with json_server(lambda path, headers, body: (200, charged)) as (gateway, received):
        assert post_codes(code_folder, gateway) == 0
    assert [(path, headers["Authorization"], body) for path, headers, body in received] == [
        ("/v1/cameras/cam-1/codes", "Bearer k-secret", {"code": clean_sample.expected})
    ]
    out, err = capsys.readouterr()
    assert out == ""
    assert f"code {mask(clean_sample.expected)} -> charged PAID" in err
    assert clean_sample.expected not in err


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        ((202, {"status": "CHARGED", "payment": {"status": "PAYING"}}), "charged PAYING"),
        (problem(409, "no_open_session", "no scan session is open"), "refused: no_open_session (no scan session"),
        (problem(422, "not_payment_code", "not a payment code"), "refused: not_payment_code (not a payment code)"),
        ((200, []), "HTTP 200"),  # not the JSON object the gateway sends: the status is all there is to show
    ],
)
def test_each_answer_of_the_gateway_is_shown_and_a_refused_code_is_no_failure(
    code_folder, capsys, answer: tuple[int, Any], shown: str
) -> None:
    with json_server(lambda path, headers, body: answer) as (gateway, _received):
        assert post_codes(code_folder, gateway) == 0
    assert shown in capsys.readouterr().err


def test_a_refused_key_stops_the_camera_at_once_with_status_3(tmp_path: Path, clean_sample, capsys) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in range(30):
        (folder / f"{index:02d}.jpg").write_bytes(clean_sample.jpeg)
    refused = problem(401, "invalid_camera_key", "the camera key is not valid")
    # --repeat-after 0 would post the code again for every frame: a camera that went on would post ~29 times.
    with json_server(lambda path, headers, body: refused) as (gateway, received):
        assert post_codes(folder, gateway, "--repeat-after", "0") == 3
    assert len(received) == 1
    err = capsys.readouterr().err
    assert "refused: invalid_camera_key (the camera key is not valid)" in err
    assert "the gateway refused the camera key" in err
    assert "source_ended" not in err


def test_a_failing_or_unreachable_gateway_is_a_failure_with_status_1(code_folder, capsys) -> None:
    with json_server(lambda path, headers, body: problem(503, "busy", "try again")) as (gateway, _received):
        assert post_codes(code_folder, gateway) == 1
    assert "refused: busy (try again)" in capsys.readouterr().err
    with socket.socket() as unused:  # bound, never listening: connections to it are refused
        unused.bind(("127.0.0.1", 0))
        assert post_codes(code_folder, f"http://127.0.0.1:{unused.getsockname()[1]}") == 1
    assert "not delivered" in capsys.readouterr().err


def test_cli_refuses_incomplete_gateway_options(code_folder, capsys) -> None:
    gateway = ["--gateway", "http://127.0.0.1:1", "--camera-id", "cam-1", "--key", "k"]
    for args, complaint in (
        (["--send-frames"], "--send-frames needs --gateway"),
        (["--gateway", "http://127.0.0.1:1"], "--gateway needs --camera-id and --key"),
        (["--send-frames", *gateway, "--max-fps", "0"], "--max-fps must be positive"),
    ):
        with pytest.raises(SystemExit):
            camera_main(["--source", str(code_folder), *args])
        assert complaint in capsys.readouterr().err


def test_send_frames_reports_an_unreachable_gateway_and_exits_1(code_folder, capsys) -> None:
    with socket.socket() as unused:  # bound, never listening: connections to it are refused
        unused.bind(("127.0.0.1", 0))
        gateway = f"http://127.0.0.1:{unused.getsockname()[1]}"
        args = ["--source", str(code_folder), "--send-frames", "--gateway", gateway, "--camera-id", "c", "--key", "k"]
        assert camera_main([*args, "--quiet"]) == 1
    assert "gateway unreachable" in capsys.readouterr().err


def test_cli_reports_a_source_that_cannot_be_opened(tmp_path: Path, capsys) -> None:
    assert camera_main(["--source", str(tmp_path / "absent.mp4"), "--quiet"]) == 2
    assert "source unavailable" in capsys.readouterr().err


def simulator(path: str, headers: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """The `/_sim/` control API of a channel simulator, as far as the demo clip uses it."""
    if path == "/sim/wechat/_sim/customers":
        return 201, {"customer_id": "cust000001"}
    if path == "/sim/wechat/_sim/customers/cust000001/codes":
        return 201, {"auth_code": SIM_CODE[:-2] + body["fault"]}
    return problem(404, "not_found", path)


@pytest.mark.parametrize("out_name", ["clip.mp4", "clip.avi", "frames"])
@pytest.mark.parametrize("view", ["closeup", "barcode_only"])
def test_demo_clip_shows_the_code_the_simulator_issued(tmp_path: Path, capsys, out_name: str, view: str) -> None:
    out = tmp_path / out_name
    with json_server(simulator) as (base, received):
        args = ["demo-clip", "--simulator", f"{base}/sim/wechat", "--out", str(out), "--view", view]
        assert camera_main([*args, "--frames", "8"]) == 0
    assert received[-1][2] == {"fault": "00"}
    printed = capsys.readouterr().out
    assert f"11 frames, wechat payment code {mask(SIM_CODE)} ({view})" in printed
    assert SIM_CODE not in printed
    events: list[PipelineEvent] = []
    CodePipeline(open_source(str(out))).run(events.append)
    frames = [event for event in events if event.kind is EventKind.FRAME]
    assert len(frames) == 11
    assert [event.status for event in frames[:3]] == [FrameStatus.NO_CODE] * 3  # the counter, before the phone
    assert [event.code for event in events if event.kind is EventKind.CODE] == [SIM_CODE]


def test_demo_clip_asks_for_the_fault_and_reports_a_missing_simulator(tmp_path: Path, capsys) -> None:
    with json_server(simulator) as (base, received):
        args = ["demo-clip", "--simulator", f"{base}/sim/wechat", "--out", str(tmp_path / "f"), "--fault", "01"]
        assert camera_main([*args, "--frames", "1"]) == 0
    assert received[-1][2] == {"fault": "01"}
    with json_server(simulator) as (base, _received):
        assert camera_main(["demo-clip", "--simulator", f"{base}/sim/nowhere", "--out", str(tmp_path / "g")]) == 1
    assert "HTTP 404" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()
    with pytest.raises(SystemExit):
        camera_main(["demo-clip", "--out", str(tmp_path / "h"), "--fault", "pay"])
    assert "--fault is two digits" in capsys.readouterr().err


def test_synthetic_command_writes_labelled_category_folders(tmp_path: Path) -> None:
    synthetic_main([str(tmp_path), "--per-category", "1", "--seed", "5"])
    for category in CATEGORIES:
        image, label = tmp_path / category.name / "0000.jpg", tmp_path / category.name / "0000.txt"
        assert image.read_bytes()[:2] == b"\xff\xd8"
        assert (label.read_text() != "") == (category.content in ("payment", "barcode", "url"))


def test_status_line_shows_the_code_masked(capsys) -> None:
    status = StatusLine(every_s=0.0)
    status.update(PipelineEvent(EventKind.CODE, FrameStatus.PAYMENT_CODE, "134567890123456789"))
    status.update(PipelineEvent(EventKind.FRAME, FrameStatus.PAYMENT_CODE, decode_ms=4.0))
    err = capsys.readouterr().err
    assert "1345**********6789" in err
    assert "134567890123456789" not in err


def test_reprs_that_may_reach_a_log_never_hold_the_code(decoder, clean_sample) -> None:
    result = decoder.decode(clean_sample.image())
    event = PipelineEvent(EventKind.CODE, result.status, result.code)
    assert result.code == clean_sample.expected
    assert clean_sample.expected not in repr(result)
    assert clean_sample.expected not in repr(event)
