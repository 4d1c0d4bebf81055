"""CLI and generator-command tests: JSON-line sink, gateway HTTP sink on loopback, masking, set layout."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from camera.__main__ import StatusLine
from camera.__main__ import main as camera_main
from camera.decode import FrameStatus
from camera.pipeline import EventKind, PipelineEvent
from camera.synthetic import CATEGORIES
from camera.synthetic import main as synthetic_main


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


def test_cli_posts_codes_to_the_gateway_with_the_camera_key(code_folder, clean_sample, capsys) -> None:
    received: list[tuple[str, str, dict[str, str]]] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, self.headers["Authorization"], body))
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gateway = f"http://127.0.0.1:{server.server_port}"
        args = ["--source", str(code_folder), "--gateway", gateway, "--camera-id", "cam-1", "--key", "k-secret"]
        assert camera_main(args) == 0
    finally:
        server.shutdown()
    assert received == [("/v1/cameras/cam-1/codes", "Bearer k-secret", {"code": clean_sample.expected})]
    out, err = capsys.readouterr()
    assert out == ""
    assert "HTTP 202" in err
    assert clean_sample.expected not in err


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


def test_send_frames_reports_an_unreachable_gateway_and_exits_3(code_folder, capsys) -> None:
    with socket.socket() as unused:  # bound, never listening: connections to it are refused
        unused.bind(("127.0.0.1", 0))
        gateway = f"http://127.0.0.1:{unused.getsockname()[1]}"
        args = ["--source", str(code_folder), "--send-frames", "--gateway", gateway, "--camera-id", "c", "--key", "k"]
        assert camera_main([*args, "--quiet"]) == 3
    assert "gateway unreachable" in capsys.readouterr().err


def test_cli_reports_a_source_that_cannot_be_opened(tmp_path: Path, capsys) -> None:
    assert camera_main(["--source", str(tmp_path / "absent.mp4"), "--quiet"]) == 2
    assert "source unavailable" in capsys.readouterr().err


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
