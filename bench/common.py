"""What the benchmarks share: starting the gateway and the bare FastAPI ceiling, open and closed load loops, figures."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from gateway.client import TerminalClient


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # still draining a backlog of requests: stop it for good
            proc.kill()
            proc.wait()


async def wait_ready(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(400):
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


#: What a load loop counts for a request whose connection failed (an error, not a crash of the benchmark).
NO_ANSWER = 599
#: The gateway shed the request at once (503 busy): counted apart from errors.
BUSY = 503

Send = Callable[[int], Awaitable[int]]


@dataclass
class LoadRun:
    """What a load loop saw: each answer's status and latency (ms), over how long."""

    elapsed_s: float = 0.0
    answers: list[tuple[int, float]] = field(default_factory=list)

    async def timed(self, send: Send, index: int) -> None:
        began = time.perf_counter()
        status = await send(index)
        self.answers.append((status, (time.perf_counter() - began) * 1000))


async def open_loop(send: Send, rate: float, duration: float) -> LoadRun:
    """Requests at a fixed rate whatever the answers."""
    run = LoadRun()
    total = int(rate * duration)
    start = time.perf_counter()
    tasks = []
    for index in range(total):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(run.timed(send, index)))
    await asyncio.gather(*tasks)
    run.elapsed_s = time.perf_counter() - start
    return run


async def closed_loop(send: Send, concurrency: int, duration: float) -> LoadRun:
    """As fast as `concurrency` clients can go."""
    run = LoadRun()
    counter = iter(range(10**9))
    stop = time.perf_counter() + duration
    start = time.perf_counter()

    async def client() -> None:
        while time.perf_counter() < stop:
            await run.timed(send, next(counter))

    await asyncio.gather(*(client() for _ in range(concurrency)))
    run.elapsed_s = time.perf_counter() - start
    return run


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(label: str, run: LoadRun) -> dict[str, float]:
    """Served (200) per second and their latency; "busy" (503, shed at once) and other answers counted apart."""
    served = [latency for status, latency in run.answers if status == 200]
    busy = sum(1 for status, _ in run.answers if status == BUSY)
    errors = len(run.answers) - len(served) - busy
    row = {
        "per_s": round(len(served) / run.elapsed_s, 1) if run.elapsed_s else float("nan"),
        "p50_ms": round(statistics.median(served), 2) if served else float("nan"),
        "p95_ms": round(percentile(served, 0.95), 2),
        "p99_ms": round(percentile(served, 0.99), 2),
        "busy": busy,
        "errors": errors,
    }
    print(
        f"{label:<34} {row['per_s']:>8.1f}/s  p50 {row['p50_ms']:>7.2f} ms  p95 {row['p95_ms']:>7.2f} ms  "
        f"p99 {row['p99_ms']:>7.2f} ms  busy {busy}  errors {errors}",
        flush=True,
    )
    return row


@contextlib.contextmanager
def gateway_and_bare_app(var_dir: Path) -> Iterator[tuple[str, str]]:
    """The gateway (dev mode, a fresh SQLite database in `var_dir`) and bench/bare_app.py, as processes on loopback.

    Yields their base URLs once started; wait for them with `wait_ready`.
    """
    gateway_port, bare_port = free_port(), free_port()
    env = {
        **os.environ,
        "GATEWAY_DEV_MODE": "true",
        "GATEWAY_VAR_DIR": str(var_dir),
        "GATEWAY_PORT": str(gateway_port),
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    env.pop("GATEWAY_DATABASE_URL", None)
    gateway_cmd = [sys.executable, "-m", "gateway"]
    bare_cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.bare_app:app",
        "--port",
        str(bare_port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with process(gateway_cmd, env), process(bare_cmd):
        yield f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{bare_port}"


@contextlib.asynccontextmanager
async def demo_terminal_and_bare_app() -> AsyncIterator[tuple[TerminalClient, httpx.AsyncClient, str]]:
    """Both apps started and ready: the gateway's demo terminal (a signing client), a pooled HTTP client, and
    the bare app's base URL.
    """
    with tempfile.TemporaryDirectory() as tmp, gateway_and_bare_app(Path(tmp) / "var") as (gateway_url, bare_url):
        await wait_ready(f"{gateway_url}/readyz")
        await wait_ready(f"{bare_url}/docs")
        credentials = json.loads((Path(tmp) / "var" / "demo-credentials.json").read_text())
        limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
        async with httpx.AsyncClient(limits=limits, timeout=30) as http:
            terminal = TerminalClient(gateway_url, credentials["terminal_key_id"], credentials["terminal_secret"], http)
            yield terminal, http, bare_url


async def against_bare(
    send: Send, bare: Send, rates: list[float], duration: float, concurrency: int
) -> dict[str, dict[str, float]]:
    """The gateway at each offered rate and flat out, then the bare endpoint flat out as the ceiling."""
    results: dict[str, dict[str, float]] = {}
    for rate in rates:
        results[f"gateway@{rate:g}/s"] = report(f"gateway, offered {rate:g}/s", await open_loop(send, rate, duration))
    results["gateway max"] = report(
        f"gateway, closed loop x{concurrency}", await closed_loop(send, concurrency, duration)
    )
    await closed_loop(bare, 8, 1)  # warm-up
    results["bare max"] = report(
        f"bare FastAPI, closed loop x{concurrency}", await closed_loop(bare, concurrency, duration)
    )
    return results


def bench_arguments(description: str | None, rates: str, unit: str, concurrency: int) -> argparse.ArgumentParser:
    """The options every gateway benchmark takes; add `--channel` and the like to what this returns."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default=rates, help=f"offered rates, {unit} per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--concurrency", type=int, default=concurrency, help="clients in the closed-loop run")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    return parser


def print_json_if_asked(args: argparse.Namespace, results: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(results))
