"""Benchmark terminal websockets: memory per connection and push latency, single instance and cross instance.

    .venv/bin/python bench/ws_fanout.py [--terminals 10000] [--rate 500] [--seconds 10]
    .venv/bin/python bench/ws_fanout.py --cross-instance [--postgres-url URL | --start-postgres]

Prepares a database with N terminals (bulk-inserted, with one websocket ticket each), starts gateway process A
and opens N websockets to it from this process, measuring A's resident memory before and after. Then events are
written at `--rate` per second to random terminals, each stamped with the time it was written; the terminals
report how long each took to arrive (p50/p99). Single instance: A writes the events itself (SQLite by default,
the in-process hub). Cross instance: a second gateway process B on the same PostgreSQL writes them and A
learns of them through LISTEN/NOTIFY.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from bench.common import fresh_postgres_database, own_postgres  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.domain.ids import new_id  # noqa: E402
from gateway.domain.orders import OrderKind, OrderStatus  # noqa: E402
from gateway.persistence.database import Database, Tx  # noqa: E402
from gateway.persistence.migrate import upgrade  # noqa: E402
from gateway.persistence.tables import Merchant, Order, Store, Terminal, TerminalTicket  # noqa: E402
from gateway.persistence.tickets import ticket_hash  # noqa: E402

BATCH = 1000
CONNECT_CONCURRENCY = 50
#: Concurrent writing transactions: SQLite has one writer at a time (more only queue on its lock, in sleeps);
#: PostgreSQL's stay within the database's pool of 10, as overflow connections are opened and closed per transaction.
WRITERS = {"sqlite": 1, "postgresql": 8}
#: Garbage collections of a gateway process at least this long are reported: every connection waits them out.
PAUSE_MS = 20.0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


# ---- the database: N terminals, one order and one ticket each -------------------------------------------------


async def prepare(database_url: str, terminals: int) -> list[dict[str, str]]:
    db = Database(database_url)
    try:
        await upgrade(db)
        now = datetime.now(UTC)
        merchant_id, store_id = new_id("mch"), new_id("sto")
        rows = []
        for index in range(terminals):
            rows.append(
                {
                    "terminal_id": f"trm_bench{index:08d}",
                    "order_id": f"ord_bench{index:08d}",
                    "ticket": f"wst_{secrets.token_urlsafe(18)}",
                }
            )

        def insert_rows(tx: Tx) -> None:
            connection = tx.connection
            connection.execute(
                insert(Merchant).values(id=merchant_id, name="Bench", require_operator=False, created_at=now)
            )
            connection.execute(insert(Store).values(id=store_id, merchant_id=merchant_id, name="Bench", created_at=now))
            for start in range(0, terminals, BATCH):
                chunk = rows[start : start + BATCH]
                connection.execute(
                    insert(Terminal),
                    [
                        {
                            "id": r["terminal_id"],
                            "merchant_id": merchant_id,
                            "store_id": store_id,
                            "name": "bench",
                            "key_id": f"tk_{r['terminal_id']}",
                            "secret_encrypted": "-",
                            "event_seq": 0,
                            "created_at": now,
                        }
                        for r in chunk
                    ],
                )
                connection.execute(
                    insert(Order),
                    [
                        {
                            "id": r["order_id"],
                            "merchant_id": merchant_id,
                            "store_id": store_id,
                            "terminal_id": r["terminal_id"],
                            "out_trade_no": r["order_id"][4:],
                            "kind": OrderKind.MICROPAY,
                            "channel": "wechat",
                            "amount_fen": 100,
                            "refunded_fen": 0,
                            "status": OrderStatus.PAID,
                            "description": "",
                            "created_at": now,
                            "updated_at": now,
                        }
                        for r in chunk
                    ],
                )
                connection.execute(
                    insert(TerminalTicket),
                    [
                        {
                            "ticket_hash": ticket_hash(r["ticket"]),
                            "terminal_id": r["terminal_id"],
                            "expires_at": now + timedelta(hours=2),
                        }
                        for r in chunk
                    ],
                )

        await db.transaction(insert_rows)
        for row in rows:
            row["merchant_id"] = merchant_id
        return rows
    finally:
        await db.dispose()


# ---- child process: a gateway, optionally writing events itself -------------------------------------------------


def record_collections(log: Path) -> None:
    """Append each garbage collection of this process lasting PAUSE_MS or more to `log` (start, ms, generation)."""
    started: list[float] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = [time.time(), time.perf_counter()]
            return
        pause_ms = (time.perf_counter() - started[1]) * 1000
        if pause_ms >= PAUSE_MS:
            with log.open("a") as out:
                out.write(f"{started[0]} {pause_ms:.1f} {info['generation']}\n")

    gc.callbacks.append(note)


def serve(port: int, write_plan: Path | None) -> None:
    """One gateway process as `gateway serve` runs it (uvicorn's event loop, SERVER_OPTIONS), optionally writing."""
    import uvicorn

    from gateway.app import SERVER_OPTIONS, create_app
    from gateway.observability import configure_logging

    record_collections(Path(os.environ["BENCH_GC_LOG"]))
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, backlog=4096, **SERVER_OPTIONS)
    server = uvicorn.Server(config)

    async def serve_and_write() -> None:
        serving = asyncio.create_task(server.serve())
        if write_plan is not None:
            while not server.started:
                await asyncio.sleep(0.05)
            await write_events(app.state.runtime, json.loads(write_plan.read_text()), write_plan.with_suffix(".go"))
        await serving

    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(serve_and_write())


async def write_events(runtime: Any, plan: dict[str, Any], go: Path) -> None:
    """Wait for the go file, then write `rate` events a second for `seconds`; note when each began and committed.

    At most WRITERS transactions are in flight at once; every event is its own transaction through write_event
    (sequence, outbox row, NOTIFY on commit).
    """
    from gateway.services.transitions import write_event

    while not go.exists():
        await asyncio.sleep(0.05)
    targets = plan["targets"]
    interval = 1 / plan["rate"]
    writers = asyncio.Semaphore(WRITERS[runtime.db.dialect_name])
    committed: dict[str, float] = {}  # "order_id/seq" -> when its row was written and COMMIT was sent

    def write(tx: Tx, order: Order) -> None:
        event = write_event(tx, order, "bench.tick", {"written_at": time.time()})
        committed[f"{order.id}/{event.seq}"] = time.time()

    async def one(target: dict[str, str]) -> None:
        order = Order(id=target["order_id"], terminal_id=target["terminal_id"], merchant_id=target["merchant_id"])
        async with writers:
            await runtime.db.transaction(write, order)

    tasks = []
    start = time.monotonic()
    for index in range(int(plan["rate"] * plan["seconds"])):
        delay = start + index * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(random.choice(targets))))
    await asyncio.gather(*tasks)
    summary = {"written": len(committed), "seconds": time.monotonic() - start, "committed": committed}
    go.with_suffix(".done").write_text(json.dumps(summary))


# ---- the parent: processes, connections, figures ----------------------------------------------------------------


@contextlib.contextmanager
def gateway(database_url: str, var_dir: Path, port: int, log: Path, plan: Path | None) -> Iterator[int]:
    """A gateway process on `port`, logging to `log` and its long garbage collections to `log` + ".gc"."""
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_VAR_DIR": str(var_dir),
        "GATEWAY_SECRET_KEY": "bench-secret-key-bench-secret-key",
        "GATEWAY_AUTO_MIGRATE": "false",
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_WS_QUEUE_LIMIT": "256",
        "BENCH_GC_LOG": str(log.with_suffix(".gc")),
    }
    args = [sys.executable, __file__, "serve", "--port", str(port)] + (["--write-plan", str(plan)] if plan else [])
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=out)
    try:
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


async def wait_ready(port: int) -> None:
    import httpx

    async with httpx.AsyncClient() as http:
        for _ in range(600):
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("the gateway did not start")


class Terminals:
    """N websocket terminals in this process, recording how long each event took to arrive."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []  # from the start of the writing transaction
        self.received_at: dict[str, float] = {}  # "order_id/seq" -> when it arrived
        self.open = 0
        self.closed_early = 0

    async def run(self, port: int, row: dict[str, str], connected: asyncio.Semaphore, stop: asyncio.Event) -> None:
        url = f"ws://127.0.0.1:{port}/v1/terminals/{row['terminal_id']}/events?ticket={row['ticket']}"
        try:
            async with connected:
                connection = await connect(url, open_timeout=120, max_queue=64)
                await connection.recv()  # hello
                await connection.send('{"type":"resume","after":0}')
            self.open += 1
            async with connection:
                receiving = asyncio.create_task(self._receive(connection))
                await stop.wait()
                receiving.cancel()
        except (OSError, ConnectionClosed, TimeoutError) as exc:
            self.closed_early += 1
            if self.closed_early <= 3:
                print(f"  connection failed: {exc!r}", file=sys.stderr)

    async def _receive(self, connection: Any) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for text in connection:
                message = json.loads(text)
                if message["type"] == "event":
                    now = time.time()
                    self.latencies_ms.append((now - message["data"]["written_at"]) * 1000)
                    self.received_at[f"{message['order_id']}/{message['seq']}"] = now
                elif message["type"] == "ping":
                    await connection.send('{"type":"pong"}')


def pauses_during(log: Path, start: float, end: float) -> list[tuple[float, int]]:
    """How long (ms) each collection that `log` records as starting between `start` and `end` took, and its
    generation (2 is a full collection)."""
    if not log.exists():
        return []
    pauses = []
    for line in log.read_text().splitlines():
        at, pause_ms, generation = line.split()
        if start <= float(at) <= end:
            pauses.append((float(pause_ms), int(generation)))
    return pauses


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(args: argparse.Namespace, database_url: str, work: Path) -> None:
    label = (
        "cross instance (PostgreSQL NOTIFY)"
        if args.cross_instance
        else (
            "single instance ("
            + ("PostgreSQL" if database_url.startswith("postgresql") else "SQLite, in-process hub")
            + ")"
        )
    )
    print(f"{label}: {args.terminals} terminals, {args.rate} events/s for {args.seconds} s")
    started = time.monotonic()
    rows = await prepare(database_url, args.terminals)
    print(f"  {args.terminals} terminals with tickets inserted in {time.monotonic() - started:.1f} s")
    plan = work / "plan.json"
    plan.write_text(
        json.dumps(
            {
                "rate": args.rate,
                "seconds": args.seconds,
                "targets": [{k: r[k] for k in ("terminal_id", "order_id", "merchant_id")} for r in rows],
            }
        )
    )
    port_a, port_b = free_port(), free_port()
    with contextlib.ExitStack() as stack:
        pid_a = stack.enter_context(
            gateway(database_url, work / "var", port_a, work / "a.log", None if args.cross_instance else plan)
        )
        if args.cross_instance:
            stack.enter_context(gateway(database_url, work / "var", port_b, work / "b.log", plan))
            await wait_ready(port_b)
        await wait_ready(port_a)
        await asyncio.sleep(1)
        idle_mib = rss_mib(pid_a)
        terminals, stop = Terminals(), asyncio.Event()
        connected = asyncio.Semaphore(CONNECT_CONCURRENCY)
        started = time.monotonic()
        half = len(rows) // 2
        tasks = [asyncio.create_task(terminals.run(port_a, row, connected, stop)) for row in rows[:half]]
        while terminals.open + terminals.closed_early < half:
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)
        half_mib, half_open = rss_mib(pid_a), terminals.open
        tasks += [asyncio.create_task(terminals.run(port_a, row, connected, stop)) for row in rows[half:]]
        while terminals.open + terminals.closed_early < len(rows):
            await asyncio.sleep(0.2)
        print(
            f"  {terminals.open} websockets open in {time.monotonic() - started:.1f} s "
            f"({terminals.closed_early} failed)"
        )
        await asyncio.sleep(2)
        # This process's 10,000 connections stand in for 10,000 devices: its own collections (young ones took
        # up to 116 ms) would show as push latency. None run while the events flow; the gateways' do.
        gc.freeze()
        gc.disable()
        loaded_mib = rss_mib(pid_a)
        per_connection_kib = (loaded_mib - idle_mib) * 1024 / max(1, terminals.open)
        marginal_kib = (loaded_mib - half_mib) * 1024 / max(1, terminals.open - half_open)
        print(
            f"  gateway RSS: {idle_mib:.0f} MiB idle -> {loaded_mib:.0f} MiB with {terminals.open} connections "
            f"= {per_connection_kib:.1f} KiB per connection ({marginal_kib:.1f} KiB for the second half alone)"
        )
        plan.with_suffix(".go").write_text("go")
        done = plan.with_suffix(".done")
        while not done.exists():
            await asyncio.sleep(0.2)
        written = json.loads(done.read_text())
        for _ in range(50):  # the last events in flight
            if len(terminals.latencies_ms) >= written["written"]:
                break
            await asyncio.sleep(0.1)
        gc.enable()
        stop.set()
        await asyncio.gather(*tasks)
    latencies = terminals.latencies_ms
    push = [
        (terminals.received_at[key] - at) * 1000
        for key, at in written["committed"].items()
        if key in terminals.received_at
    ]
    print(
        f"  events: {written['written']} written in {written['seconds']:.1f} s "
        f"({written['written'] / written['seconds']:.0f}/s), {len(latencies)} received"
    )
    if push and os.environ.get("BENCH_TIMELINE"):
        first = min(written["committed"].values())
        by_second: dict[int, list[float]] = {}
        for key, at in written["committed"].items():
            if key in terminals.received_at:
                by_second.setdefault(int(at - first), []).append((terminals.received_at[key] - at) * 1000)
        for second, values in sorted(by_second.items()):
            p50, worst = percentile(values, 0.5), max(values)
            print(f"    second {second}: {len(values)} events, p50 {p50:.0f} ms, max {worst:.0f} ms")
    for name, values in (
        ("row written, COMMIT sent -> terminal received", push),
        ("transaction start -> received", latencies),
    ):
        if values:
            print(
                f"  {name}: p50 {percentile(values, 0.5):.1f} ms, p99 {percentile(values, 0.99):.1f} ms, "
                f"max {max(values):.1f} ms, mean {statistics.mean(values):.1f} ms"
            )
    if push:
        window = min(written["committed"].values()), max(terminals.received_at.values())
        for name, log in (("A", work / "a.gc"), ("B", work / "b.gc")):
            if log.exists() or name == "A":
                pauses = pauses_during(log, *window)
                young = [pause_ms for pause_ms, generation in pauses if generation < 2]
                full = [pause_ms for pause_ms, generation in pauses if generation == 2]
                print(
                    f"  gateway {name}: garbage collections over {PAUSE_MS:.0f} ms meanwhile: {len(young)} young"
                    + (f" (longest {max(young):.0f} ms)" if young else "")
                    + f", {len(full)} full"
                    + (f" ({', '.join(f'{pause_ms:.0f} ms' for pause_ms in full)})" if full else "")
                )


async def with_database(args: argparse.Namespace, admin_url: str | None, work: Path) -> None:
    if admin_url is None:
        await run(args, f"sqlite+aiosqlite:///{work / 'bench.db'}", work)
        return
    async with fresh_postgres_database(admin_url, "ws_bench") as url:
        await run(args, url, work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("serve", help="(internal) one gateway process")
    child.add_argument("--port", type=int, required=True)
    child.add_argument("--write-plan", type=Path)
    parser.add_argument("--terminals", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--cross-instance", action="store_true", help="events written by a second gateway process")
    parser.add_argument("--postgres-url", help="an admin URL; the bench creates and drops its own database")
    parser.add_argument("--start-postgres", action="store_true", help="start a throwaway server like CI does")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.port, args.write_plan)
        return
    if args.cross_instance and not (args.postgres_url or args.start_postgres):
        parser.error("--cross-instance needs PostgreSQL: --postgres-url URL or --start-postgres")
    with tempfile.TemporaryDirectory(prefix="ws-bench-") as tmp, contextlib.ExitStack() as stack:
        admin_url = args.postgres_url or (stack.enter_context(own_postgres()) if args.start_postgres else None)
        asyncio.run(with_database(args, admin_url, Path(tmp)))


if __name__ == "__main__":
    main()
