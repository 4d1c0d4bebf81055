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
from enum import StrEnum
from typing import Any

from camera import demo
from camera.codes import mask
from camera.pipeline import CodePipeline, EventKind, PipelineEvent, PipelineSettings
from camera.sources import FrameSource, SourceLost, open_source
from camera.uplink import FrameUplink, HandshakeError, UplinkSettings, frames_url

EXIT_OK = 0
EXIT_FAILED = 1  # the source was lost, or a code or frame could not be delivered
EXIT_USAGE = 2  # also argparse's own status for bad options
EXIT_KEY_REFUSED = 3

EXIT_STATUS_HELP = (
    "Exit status: 0 the source ended, and every code read was answered by the gateway (its answer is shown "
    "per code: charged PAID, refused: no_open_session, ...); 1 the source was lost, a code could not be "
    "delivered (gateway unreachable or failing) or the gateway ended the frame stream (frame too big, too many "
    "streams, replaced by a newer connection); 2 bad options, or the source could not be opened; 3 the gateway "
    "refused the camera key (HTTP 401/403, or the frame stream closed with 1008 before it began): the camera "
    "stops at once."
)
_KEY_REFUSED_HTTP = (401, 403)


class Delivery(StrEnum):
    """What became of one code handed to a sink."""

    ANSWERED = "answered"  # printed, or the gateway answered it (a charge or a refusal of the code)
    FAILED = "failed"  # not delivered: the gateway was unreachable or failed (5xx); a later read retries it
    KEY_REFUSED = "key_refused"  # the gateway does not take this camera's key: nothing more will be accepted


Sink = Callable[[PipelineEvent], Delivery]


def print_sink(event: PipelineEvent) -> Delivery:
    """Emitted codes as JSON lines on stdout: the one place the full code appears, for the consumer."""
    line = {"code": event.code, "wallet": event.wallet, "frame": event.frame_index, "at": datetime.now(UTC).isoformat()}
    print(json.dumps(line), flush=True)
    return Delivery.ANSWERED


def outcome_text(status: str | None, payment_status: str | None = None, detail: str | None = None) -> str:
    """One code's outcome as shown: `charged PAID`, or `refused: <problem code> (<detail>)`."""
    if status is None:
        return "no answer"
    if status.lower() == "charged":
        return f"charged {payment_status}" if payment_status else "charged"
    return f"refused: {status} ({detail})" if detail else f"refused: {status}"


def answer_text(http_status: int, body: bytes) -> str:
    """The outcome of a POSTed code from the gateway's answer: the charged session, or its problem+json."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return f"HTTP {http_status}"
    if http_status < 300:
        payment = answer.get("payment")
        paid = payment.get("status") if isinstance(payment, dict) else None
        return outcome_text("charged", paid)  # a 2xx answer is the session the code charged
    code = answer.get("code")
    return outcome_text(str(code), detail=answer.get("detail")) if code else f"HTTP {http_status}"


def gateway_sink(gateway: str, camera_id: str, key: str, timeout_s: float = 5.0) -> Sink:
    """POST each emitted code to the gateway's camera endpoint; its outcome is shown, the code masked, on stderr."""
    if not gateway.startswith(("http://", "https://")):
        raise SystemExit("--gateway must be an http:// or https:// URL")
    url = f"{gateway.rstrip('/')}/v1/cameras/{camera_id}/codes"

    def post(event: PipelineEvent) -> Delivery:
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url,
            data=json.dumps({"code": event.code}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            method="POST",
        )
        delivery = Delivery.ANSWERED
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
                outcome = answer_text(response.status, response.read())
        except urllib.error.HTTPError as error:
            outcome = answer_text(error.code, error.read())
            if error.code in _KEY_REFUSED_HTTP:
                delivery = Delivery.KEY_REFUSED
            elif error.code >= 500:
                delivery = Delivery.FAILED
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            outcome, delivery = f"not delivered ({error})", Delivery.FAILED
        print(f"\ncode {mask(event.code or '')} -> {outcome}", file=sys.stderr, flush=True)
        return delivery

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
            outcome = outcome_text(message.get("status"), message.get("payment_status"), message.get("detail"))
            print(f"\ncode {masked} -> {outcome}", file=sys.stderr, flush=True)

    try:
        url = frames_url(args.gateway, args.camera_id)
    except ValueError as error:
        raise SystemExit(f"--gateway: {error}") from error
    uplink = FrameUplink(source, url, args.key, on_message, UplinkSettings(max_fps=args.max_fps))
    previous_handler = signal.signal(signal.SIGINT, lambda _signum, _frame: uplink.stop())
    try:
        outcome = uplink.run()
    except HandshakeError as error:
        if error.http_status in _KEY_REFUSED_HTTP:
            print(f"the gateway refused the camera key: HTTP {error.http_status}", file=sys.stderr)
            return EXIT_KEY_REFUSED
        print(f"gateway unreachable at {url}: {error}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as error:
        print(f"gateway unreachable at {url}: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    if status is not None:
        print(file=sys.stderr)
    print(f"{outcome.frames_sent} frames sent", file=sys.stderr)
    source_status = report_source_end([outcome.source] if outcome.source is not None else [])
    if outcome.key_refused:
        print(f"the gateway refused the camera key: {outcome.close_code} {outcome.close_reason}", file=sys.stderr)
        return EXIT_KEY_REFUSED
    if outcome.refused:
        print(f"the gateway closed the stream: {outcome.close_code} {outcome.close_reason}", file=sys.stderr)
        return EXIT_FAILED
    return source_status


def report_source_end(events: list[PipelineEvent]) -> int:
    """Say how the source ended; the exit status for it: EXIT_FAILED when it was lost, else EXIT_OK."""
    for event in events:
        print(f"{event.kind}: {event.detail}", file=sys.stderr)
    return EXIT_FAILED if any(event.kind is EventKind.SOURCE_LOST for event in events) else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["demo-clip"]:
        return demo.main(arguments[1:])
    parser = argparse.ArgumentParser(
        prog="gateway-camera",
        description=f"{__doc__} `gateway-camera demo-clip --help`: make a clip of a simulator's payment code.",
        epilog=EXIT_STATUS_HELP,
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
    args = parser.parse_args(arguments)
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
        return EXIT_USAGE
    if args.send_frames:
        return stream_frames(source, args, None if args.quiet else StatusLine())
    sink = gateway_sink(args.gateway, args.camera_id, args.key) if args.gateway else print_sink
    pipeline = CodePipeline(source, PipelineSettings(repeat_after_s=args.repeat_after))
    previous_handler = signal.signal(signal.SIGINT, lambda _signum, _frame: pipeline.stop())
    status = None if args.quiet else StatusLine()
    outcome: list[PipelineEvent] = []
    deliveries: set[Delivery] = set()

    def on_event(event: PipelineEvent) -> None:
        if Delivery.KEY_REFUSED in deliveries:
            return  # stopping: a frame already captured is still decoded, but nothing more is sent
        if status is not None:
            status.update(event)
        if event.kind is EventKind.CODE:
            delivery = sink(event)
            deliveries.add(delivery)
            if delivery is Delivery.KEY_REFUSED:
                pipeline.stop()  # at once: the gateway will take nothing more from this camera
        elif event.kind in (EventKind.SOURCE_ENDED, EventKind.SOURCE_LOST):
            outcome.append(event)

    try:
        pipeline.run(on_event)
    except BrokenPipeError:
        # The reader of our JSON lines went away (e.g. `| head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    if status is not None:
        print(file=sys.stderr)
    if Delivery.KEY_REFUSED in deliveries:
        print("the gateway refused the camera key: stopped", file=sys.stderr)
        return EXIT_KEY_REFUSED
    source_status = report_source_end(outcome)
    return EXIT_FAILED if Delivery.FAILED in deliveries else source_status


if __name__ == "__main__":
    sys.exit(main())
