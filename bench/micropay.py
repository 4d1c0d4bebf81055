"""Benchmark B-scan-C: drive a running gateway (real HTTP) and print payments/s, latency and CPU per payment.

    .venv/bin/python bench/micropay.py [--rates 100,200,300] [--duration 10] [--channel wechat]
        [--simulators inline|process] [--channel-latency-ms 80] [--sqlite-synchronous NORMAL|FULL]
        [--workers 2 --postgres-url postgresql+asyncpg://postgres@127.0.0.1:55432/postgres | --start-postgres]

Starts the gateway (dev mode, a fresh database, the channel simulators in-process or as their own processes) and
a bare FastAPI endpoint as separate processes on loopback. First the bare endpoint flat out (closed loop), then
for each offered rate signed micropay requests on a fixed schedule (open loop), then the gateway flat out. Each
run reports the payments served per second (200), their latency, how many were shed (503 busy), and the CPU the
server used per payment served (utime+stime from /proc, of the gateway and its worker processes; of the bare
app), with the ratio gateway/bare, and, with simulators in their own processes, their CPU per payment.
"""

from __future__ import annotations

import argparse
import itertools
import secrets
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    NO_ANSWER,
    ServerOptions,
    against_bare,
    bench_arguments,
    closed_loop,
    demo_terminal_and_servers,
    run_bench,
    summary,
)

CODE_PREFIX = {"wechat": "13", "alipay": "28", "unionpay": "62"}
CODE_LENGTH = {"wechat": 18, "alipay": 18, "unionpay": 19}


def payment_code(channel: str) -> str:
    """A well-formed code ending in 00 (pays at once); the simulators accept codes nobody issued."""
    middle = CODE_LENGTH[channel] - 4
    return CODE_PREFIX[channel] + "".join(secrets.choice("0123456789") for _ in range(middle)) + "00"


async def bench(args: argparse.Namespace, options: ServerOptions) -> dict[str, dict[str, float]]:
    rates = [float(r) for r in args.rates.split(",") if r]
    results: dict[str, dict[str, float]] = {}
    async with demo_terminal_and_servers(options) as (terminal, http, servers):
        order_numbers = (f"B{secrets.token_hex(4)}{n:09d}" for n in itertools.count())  # unique per call

        async def pay(_index: int) -> int:
            try:
                response = await terminal.micropay(100, next(order_numbers), payment_code(args.channel))
            except httpx.HTTPError:
                return NO_ANSWER
            return response.status_code

        async def bare(index: int) -> int:
            body = {"amount_fen": 100, "out_trade_no": f"B{index}", "auth_code": payment_code(args.channel)}
            try:
                return (await http.post(f"{servers.bare_url}/v1/payments/micropay", json=body)).status_code
            except httpx.HTTPError:
                return NO_ANSWER

        await closed_loop(pay, 8, 2)  # warm-up: connections, caches, database pages
        print(f"micropay via {args.channel}; {servers.description}", flush=True)
        results.update(await against_bare(servers, pay, bare, rates, args))
    summary(results, "payment")
    return results


def main() -> None:
    parser = bench_arguments(__doc__, "100,200,300", "payments", 32)
    parser.add_argument("--channel", choices=sorted(CODE_PREFIX), default="wechat")
    run_bench(parser, bench)


if __name__ == "__main__":
    main()
