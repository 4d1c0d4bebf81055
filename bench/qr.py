"""Benchmark C-scan-B: create a QR order and fetch its PNG on a running gateway; print orders/s, latency and CPU.

    .venv/bin/python bench/qr.py [--rates 25,50] [--duration 10] [--concurrency 16] [--channel wechat] [--no-png]
        [--simulators inline|process] [--channel-latency-ms 80] (and the store options of bench/micropay.py)

Starts the gateway (dev mode, a fresh database, the channel simulators in-process or as their own processes) and
a bare FastAPI endpoint pair as separate processes on loopback. One "order" is a signed POST /v1/payments/qr (the
gateway precreates at the channel) followed by a signed GET of its qr.png (left out with --no-png); the bare app
answers the same requests with canned bodies. Each run reports orders/s, latency and the server CPU per order
(from /proc) with the ratio gateway/bare, and the simulator processes' CPU when they run apart. Also prints what
rendering one PNG costs on its own.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
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
    percentile,
    run_bench,
    summary,
)
from gateway.services.qr_images import ImageFormat, QrImageSpec, render  # noqa: E402

OK = 200  # what the load loops count as success


def render_cost(samples: int = 200) -> dict[str, float]:
    """Milliseconds to render one 512 px PNG of a WeChat-like code, in this process, one core."""
    times = []
    for index in range(samples):
        began = time.perf_counter()
        render(QrImageSpec(f"weixin://wxpay/bizpayurl?pr={index:011d}", ImageFormat.PNG))
        times.append((time.perf_counter() - began) * 1000)
    row = {"p50_ms": round(percentile(times, 0.5), 2), "p99_ms": round(percentile(times, 0.99), 2)}
    print(f"{'render one 512 px PNG (no HTTP)':<34} p50 {row['p50_ms']:>7.2f} ms  p99 {row['p99_ms']:>7.2f} ms")
    return row


async def bench(args: argparse.Namespace, options: ServerOptions) -> dict[str, dict[str, float]]:
    rates = [float(r) for r in args.rates.split(",") if r]
    results: dict[str, dict[str, float]] = {}
    async with demo_terminal_and_servers(options) as (terminal, http, servers):
        run_id = secrets.token_hex(3)

        async def order_with_png(index: int) -> int:
            body = {"amount_fen": 100, "out_trade_no": f"Q{run_id}{index:09d}", "channel": args.channel}
            try:
                created = await terminal.request("POST", "/v1/payments/qr", body)
                if created.status_code != 201:
                    return created.status_code
                if args.no_png:
                    return OK
                image = await terminal.request("GET", created.json()["qr_png_url"])
            except httpx.HTTPError:
                return NO_ANSWER
            return OK if image.status_code == 200 and image.content.startswith(b"\x89PNG") else image.status_code

        async def bare(index: int) -> int:
            body = {"amount_fen": 100, "out_trade_no": f"Q{index}", "channel": args.channel}
            try:
                created = await http.post(f"{servers.bare_url}/v1/payments/qr", json=body)
                if args.no_png:
                    return OK if created.status_code == 201 else created.status_code
                image = await http.get(servers.bare_url + created.json()["qr_png_url"])
            except httpx.HTTPError:
                return NO_ANSWER
            return OK if created.status_code == 201 and image.status_code == 200 else image.status_code

        await closed_loop(order_with_png, 8, 2)  # warm-up: connections, caches, database pages
        what = "C-scan-B order" if args.no_png else "C-scan-B order + PNG"
        print(f"{what} via {args.channel}; {servers.description}", flush=True)
        results["render"] = render_cost()
        results.update(await against_bare(servers, order_with_png, bare, rates, args))
    summary(results, "order")
    return results


def main() -> None:
    parser = bench_arguments(__doc__, "25,50", "orders", 16)
    parser.add_argument("--channel", choices=["wechat", "alipay", "unionpay", "aggregate"], default="wechat")
    parser.add_argument("--no-png", action="store_true", help="an order is only its create request, without the PNG")
    run_bench(parser, bench)


if __name__ == "__main__":
    main()
