"""Command line: read a camera, file, stream or folder; print or post confirmed codes, or stream frames; show status."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from camera.codes import mask
from camera.pipeline import CodePipeline, EventKind, PipelineEvent, PipelineSettings
from camera.sources import FrameSource, SourceLost, open_source
from camera.uplink import FrameUplink, HandshakeError, UplinkSettings, frames_url

Sink = Callable[[PipelineEvent], None]


def print_sink(event: PipelineEvent) -> None:
    """Emitted codes as JSON lines on stdout: the one place the full code appears, for the consumer."""
    line = {"code": event.code, "wallet": event.wallet, "frame": event.frame_index, "at": datetime.now(UTC).isoformat()}
    print(json.dumps(line), flush=True)


def gateway_sink(gateway: str, camera_id: str, key: str, timeout_s: float = 5.0) -> Sink:
    """POST each emitted code to the gateway's camera endpoint; failures are reported, masked, on stderr."""
    if not gateway.startswith(("http://", "https://")):
        raise SystemExit("--gateway must be an http:// or https:// URL")
    url = f"{gateway.rstrip('/')}/v1/cameras/{camera_id}/codes"

    def post(event: PipelineEvent) -> None:
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url,
            data=json.dumps({"code": event.code}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
                outcome = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            outcome = f"HTTP {error.code}"
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            outcome = f"not delivered ({error})"
        print(f"\ncode {mask(event.code or '')} -> {outcome}", file=sys.stderr, flush=True)

    return post


class StatusLine:
    """A single self-overwriting stderr line: frames per second, decode time, last status and masked code."""

    def __init__(self, every_s: float = 0.5) -> None:
        self._every_s = every_s
        self._window_start = time.monotonic()
        self._frames = 0
        self._decode_ms = 0.0
        self._last_status = "-"
        self._last_code = "-"
        self._dropped = 0

    def update(self, event: PipelineEvent) -> None:
        if event.kind is EventKind.CODE:
            self.code(mask(event.code or ""))
        else:
            self.frame(str(event.status), event.decode_ms, event.frames_dropped)

    def code(self, masked: str) -> None:
        self._last_code = masked

    def frame(self, status: str, decode_ms: float, dropped: int) -> None:
        self._frames += 1
        self._decode_ms += decode_ms
        self._last_status = status
        self._dropped = dropped
        now = time.monotonic()
        if now - self._window_start >= self._every_s:
            fps = self._frames / (now - self._window_start)
            line = (
                f"{fps:5.1f} fps  decode {self._decode_ms / self._frames:5.1f} ms  dropped {self._dropped}  "
                f"{self._last_status:<18} last code {self._last_code}"
            )
            print(f"\r{line}", end="", file=sys.stderr, flush=True)
            self._window_start, self._frames, self._decode_ms = now, 0, 0.0


def stream_frames(source: FrameSource, args: argparse.Namespace, status: StatusLine | None) -> int:
    """--send-frames: the gateway decodes; its answers drive the status line and each code's outcome is shown."""

    def on_message(message: dict[str, Any]) -> None:
        if message.get("type") == "frame" and "frame" in message:
            if status is not None:
                status.frame(
                    str(message.get("status")), float(message.get("decode_ms", 0.0)), message.get("dropped", 0)
                )
        elif message.get("type") == "code":
            masked = str(message.get("code_masked", "-"))
            if status is not None:
                status.code(masked)
            outcome = message.get("payment_status") or message.get("detail") or ""
            print(f"\ncode {masked} -> {message.get('status')} {outcome}".rstrip(), file=sys.stderr, flush=True)

    try:
        url = frames_url(args.gateway, args.camera_id)
    except ValueError as error:
        raise SystemExit(f"--gateway: {error}") from error
    uplink = FrameUplink(source, url, args.key, on_message, UplinkSettings(max_fps=args.max_fps))
    previous_handler = signal.signal(signal.SIGINT, lambda _signum, _frame: uplink.stop())
    try:
        outcome = uplink.run()
    except (HandshakeError, OSError) as error:
        print(f"gateway unreachable at {url}: {error}", file=sys.stderr)
        return 3
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    if status is not None:
        print(file=sys.stderr)
    print(f"{outcome.frames_sent} frames sent", file=sys.stderr)
    source_status = report_source_end([outcome.source] if outcome.source is not None else [])
    if outcome.refused:
        print(f"the gateway closed the stream: {outcome.close_code} {outcome.close_reason}", file=sys.stderr)
        return 3
    return source_status


def report_source_end(events: list[PipelineEvent]) -> int:
    """Say how the source ended; the exit status for it: 1 when it was lost, else 0."""
    for event in events:
        print(f"{event.kind}: {event.detail}", file=sys.stderr)
    return 1 if any(event.kind is EventKind.SOURCE_LOST for event in events) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m camera",
        description=__doc__,
        epilog="Exit status: 0 the source ended, 1 the source was lost, 2 it could not be opened, "
        "3 the gateway could not be reached or closed the frame stream (wrong key, frame too big, too many streams).",
    )
    parser.add_argument("--source", required=True, help="device index, video file, stream URL or image folder")
    parser.add_argument("--gateway", help="gateway base URL; codes are POSTed there instead of printed")
    parser.add_argument("--camera-id", help="this camera's id at the gateway")
    parser.add_argument("--key", help="this camera's API key at the gateway")
    parser.add_argument(
        "--send-frames", action="store_true", help="stream frames to the gateway, which decodes them (needs --gateway)"
    )
    parser.add_argument("--max-fps", type=float, default=10.0, help="--send-frames: most frames sent a second")
    parser.add_argument("--repeat-after", type=float, default=10.0, help="seconds before the same code is sent again")
    parser.add_argument("--quiet", action="store_true", help="no status line")
    args = parser.parse_args(argv)
    if args.send_frames and not args.gateway:
        parser.error("--send-frames needs --gateway, --camera-id and --key")
    if args.gateway and not (args.camera_id and args.key):
        parser.error("--gateway needs --camera-id and --key")
    if args.max_fps <= 0:
        parser.error("--max-fps must be positive")
    try:
        source = open_source(args.source)
    except SourceLost as lost:
        print(f"source unavailable: {lost}", file=sys.stderr)
        return 2
    if args.send_frames:
        return stream_frames(source, args, None if args.quiet else StatusLine())
    sink = gateway_sink(args.gateway, args.camera_id, args.key) if args.gateway else print_sink
    pipeline = CodePipeline(source, PipelineSettings(repeat_after_s=args.repeat_after))
    previous_handler = signal.signal(signal.SIGINT, lambda _signum, _frame: pipeline.stop())
    status = None if args.quiet else StatusLine()
    outcome: list[PipelineEvent] = []

    def on_event(event: PipelineEvent) -> None:
        if status is not None:
            status.update(event)
        if event.kind is EventKind.CODE:
            sink(event)
        elif event.kind in (EventKind.SOURCE_ENDED, EventKind.SOURCE_LOST):
            outcome.append(event)

    try:
        pipeline.run(on_event)
    except BrokenPipeError:
        # The reader of our JSON lines went away (e.g. `| head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    if status is not None:
        print(file=sys.stderr)
    return report_source_end(outcome)


if __name__ == "__main__":
    sys.exit(main())
