"""Structured JSON logs carrying the request id, and the Prometheus metrics the gateway exports.

Every field of every log line, in either format, goes through `line_safe`: query-string values (camera keys,
websocket tickets) become `***`, and control characters are escaped, so a record is always one line that no
request can forge another line into.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter, Histogram

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

HTTP_REQUESTS = Counter("gateway_http_requests_total", "HTTP requests handled", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "gateway_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


#: C0 controls, DEL, C1 controls and the Unicode line and paragraph separators: whatever a reader may break on.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: A query string: from a `?` right after a path or host character, or a `?` that starts `name=`, up to the first
#: space or quote (as in a request target or a URL in a message; not a SQL placeholder such as `VALUES (?, ?)`).
_QUERY = re.compile(r"""(?:(?<=[\w/.~%-])|(?=\?[\w.\[\]-]+=))\?([^\s"'<>]+)""")
#: A credential header as a "name: value" text (the websockets library logs handshake headers so at DEBUG).
_CREDENTIAL_HEADER = re.compile(
    r"""\b(authorization|proxy-authorization|cookie|set-cookie|x-api-key)(\s*:\s*)[^"'\\]+""", re.IGNORECASE
)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def _redact_query(match: re.Match[str]) -> str:
    """`?key=ck_x&after=3` as `?key=***&after=***`: the names stay, the values (and bare tokens) go."""
    params = (param.partition("=") for param in match.group(1).split("&"))
    return "?" + "&".join(f"{name}=***" if equals else "***" if name else "" for name, equals, _ in params)


def line_safe(text: str) -> str:
    """`text` fit for one log line: control characters escaped (`\\n`, `\\x1b`), then query values and
    credential headers redacted."""
    escaped = _CONTROL.sub(_escape, text)
    return _CREDENTIAL_HEADER.sub(r"\1\2***", _QUERY.sub(_redact_query, escaped))


def _line_safe_value(value: Any) -> Any:
    if isinstance(value, str):
        return line_safe(value)
    if isinstance(value, dict):
        return {line_safe(str(key)): _line_safe_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_line_safe_value(item) for item in value]
    return value


class TextFormatter(logging.Formatter):
    """Plain text, one line per record (a traceback too, its line breaks escaped)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return line_safe(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and any `extra` fields."""

    _standard = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update({k: v for k, v in record.__dict__.items() if k not in self._standard})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(_line_safe_value(entry), default=lambda value: line_safe(str(value)), ensure_ascii=False)


def configure_logging(level: str, as_json: bool) -> None:
    """Send logs to stderr, as JSON lines or plain text."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Our own access log (gateway.http) replaces uvicorn's, with the request id; uvicorn's websocket lines (its
    # "uvicorn.error" logger, query string included) reach the root handler, so they are made line-safe too.
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
