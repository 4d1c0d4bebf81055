"""Benchmark B-scan-C: drive a running gateway (real HTTP, in-process simulators) and print payments/s and latency.

    .venv/bin/python bench/micropay.py [--rates 100,200,300] [--duration 10] [--channel wechat]

Starts the gateway (dev mode, a fresh SQLite database, zero-latency simulators) and a bare FastAPI endpoint as
separate processes on loopback, then for each offered rate sends signed micropay requests on a fixed schedule
(open loop) and reports the payments served per second (200), their latency, and how many were shed (503 busy);
finally a closed-loop run finds the most each can do.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import secrets
import sys
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    NO_ANSWER,
    against_bare,
    bench_arguments,
    closed_loop,
    demo_terminal_and_bare_app,
    print_json_if_asked,
)

CODE_PREFIX = {"wechat": "13", "alipay": "28", "unionpay": "62"}
CODE_LENGTH = {"wechat": 18, "alipay": 18, "unionpay": 19}


def payment_code(channel: str) -> str:
    """A well-formed code ending in 00 (pays at once); the simulators accept codes nobody issued."""
    middle = CODE_LENGTH[channel] - 4
    return CODE_PREFIX[channel] + "".join(secrets.choice("0123456789") for _ in range(middle)) + "00"


async def bench(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    rates = [float(r) for r in args.rates.split(",")]
    results: dict[str, dict[str, float]] = {}
    async with demo_terminal_and_bare_app() as (terminal, http, bare_url):
        order_numbers = (f"B{secrets.token_hex(4)}{n:09d}" for n in itertools.count())  # unique per call

        async def pay(_index: int) -> int:
            try:
                response = await terminal.micropay(100, next(order_numbers), payment_code(args.channel))
            except httpx.HTTPError:
                return NO_ANSWER
            return response.status_code

        async def bare(index: int) -> int:
            body = {"amount_fen": 100, "out_trade_no": f"B{index}", "auth_code": payment_code(args.channel)}
            return (await http.post(f"{bare_url}/v1/payments/micropay", json=body)).status_code

        await closed_loop(pay, 8, 2)  # warm-up: connections, caches, SQLite pages
        print(f"micropay via {args.channel}, SQLite, in-process simulators; {os.cpu_count()} cores", flush=True)
        results.update(await against_bare(pay, bare, rates, args.duration, args.concurrency))
    return results


def main() -> None:
    parser = bench_arguments(__doc__, "100,200,300", "payments", 32)
    parser.add_argument("--channel", choices=sorted(CODE_PREFIX), default="wechat")
    args = parser.parse_args()
    print_json_if_asked(args, asyncio.run(bench(args)))


if __name__ == "__main__":
    main()
