"""Benchmark B-scan-C: drive a running gateway (real HTTP, in-process simulators) and print payments/s and latency.

    .venv/bin/python bench/micropay.py [--rates 100,200,300] [--duration 10] [--channel wechat]

Starts the gateway (dev mode, a fresh SQLite database, zero-latency simulators) and a bare FastAPI endpoint as
separate processes on loopback, then for each offered rate sends signed micropay requests on a fixed schedule
(open loop) and reports what was achieved; finally a closed-loop run finds the most each can do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.client import TerminalClient  # noqa: E402

CODE_PREFIX = {"wechat": "13", "alipay": "28", "unionpay": "62"}
CODE_LENGTH = {"wechat": 18, "alipay": 18, "unionpay": 19}


def payment_code(channel: str) -> str:
    """A well-formed code ending in 00 (pays at once); the simulators accept codes nobody issued."""
    middle = CODE_LENGTH[channel] - 4
    return CODE_PREFIX[channel] + "".join(secrets.choice("0123456789") for _ in range(middle)) + "00"


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
        proc.wait(timeout=10)


async def wait_ready(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(400):
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.05)
    raise SystemExit(f"{url} did not come up")


Send = Callable[[int], Awaitable[int]]


async def open_loop(send: Send, rate: float, duration: float) -> tuple[float, list[float], int]:
    """Requests at a fixed rate whatever the answers; returns (achieved/s, latencies ms, errors)."""
    latencies: list[float] = []
    errors = 0
    total = int(rate * duration)
    start = time.perf_counter()

    async def one(index: int) -> None:
        nonlocal errors
        began = time.perf_counter()
        status = await send(index)
        latencies.append((time.perf_counter() - began) * 1000)
        errors += status != 200

    tasks = []
    for index in range(total):
        delay = start + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index)))
    await asyncio.gather(*tasks)
    return total / (time.perf_counter() - start), latencies, errors


async def closed_loop(send: Send, concurrency: int, duration: float) -> tuple[float, list[float], int]:
    """As fast as `concurrency` clients can go; returns (achieved/s, latencies ms, errors)."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(10**9))
    stop = time.perf_counter() + duration
    start = time.perf_counter()

    async def client() -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            began = time.perf_counter()
            status = await send(next(counter))
            latencies.append((time.perf_counter() - began) * 1000)
            errors += status != 200

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return len(latencies) / (time.perf_counter() - start), latencies, errors


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(label: str, achieved: float, latencies: list[float], errors: int) -> dict[str, float]:
    row = {
        "per_s": round(achieved, 1),
        "p50_ms": round(statistics.median(latencies), 2) if latencies else float("nan"),
        "p95_ms": round(percentile(latencies, 0.95), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "errors": errors,
    }
    print(
        f"{label:<34} {row['per_s']:>8.1f}/s  p50 {row['p50_ms']:>7.2f} ms  p95 {row['p95_ms']:>7.2f} ms  "
        f"p99 {row['p99_ms']:>7.2f} ms  errors {errors}",
        flush=True,
    )
    return row


async def bench(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    rates = [float(r) for r in args.rates.split(",")]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        gateway_port, bare_port = free_port(), free_port()
        env = {
            **os.environ,
            "GATEWAY_DEV_MODE": "true",
            "GATEWAY_VAR_DIR": str(Path(tmp) / "var"),
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
            gateway_url, bare_url = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{bare_port}"
            await wait_ready(f"{gateway_url}/readyz")
            await wait_ready(f"{bare_url}/docs")
            credentials = json.loads((Path(tmp) / "var" / "demo-credentials.json").read_text())
            limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
            async with httpx.AsyncClient(limits=limits, timeout=30) as http:
                terminal = TerminalClient(
                    gateway_url, credentials["terminal_key_id"], credentials["terminal_secret"], http
                )
                run_id = secrets.token_hex(3)

                async def pay(index: int) -> int:
                    response = await terminal.micropay(100, f"B{run_id}{index:09d}", payment_code(args.channel))
                    return response.status_code

                async def bare(index: int) -> int:
                    body = {"amount_fen": 100, "out_trade_no": f"B{index}", "auth_code": payment_code(args.channel)}
                    return (await http.post(f"{bare_url}/v1/payments/micropay", json=body)).status_code

                await closed_loop(pay, 8, 2)  # warm-up: connections, caches, SQLite pages
                print(f"micropay via {args.channel}, SQLite, in-process simulators; {os.cpu_count()} cores", flush=True)
                for rate in rates:
                    results[f"gateway@{rate:g}/s"] = report(
                        f"gateway, offered {rate:g}/s", *await open_loop(pay, rate, args.duration)
                    )
                results["gateway max"] = report(
                    f"gateway, closed loop x{args.concurrency}",
                    *await closed_loop(pay, args.concurrency, args.duration),
                )
                await closed_loop(bare, 8, 1)
                results["bare max"] = report(
                    f"bare FastAPI, closed loop x{args.concurrency}",
                    *await closed_loop(bare, args.concurrency, args.duration),
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="100,200,300", help="offered rates, payments per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--concurrency", type=int, default=32, help="clients in the closed-loop run")
    parser.add_argument("--channel", choices=sorted(CODE_PREFIX), default="wechat")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    args = parser.parse_args()
    results = asyncio.run(bench(args))
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
