"""What the benchmarks share: starting the gateway, simulators and bare FastAPI app, load loops, CPU and figures."""

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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from gateway.client import TerminalClient

ROOT = Path(__file__).resolve().parent.parent
CHANNELS = ("wechat", "alipay", "unionpay")
#: Linux counts process CPU time in clock ticks (usually 100 a second, so 10 ms granularity).
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def process(
    args: list[str], env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """A child process, stopped (SIGTERM, then SIGKILL after 10 s) on the way out; its output goes to `log`."""
    sink: IO[bytes] | int = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(args, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # still draining a backlog of requests: stop it for good
                proc.kill()
                proc.wait()
    finally:
        if not isinstance(sink, int):
            sink.close()


async def wait_ready(url: str, log: Path | None = None) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.05)
    tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    raise SystemExit(f"{url} did not come up" + (f"; the end of {log}:\n{tail}" if tail else ""))


# ---- server CPU from /proc ---------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """`pid` and every live process below it (uvicorn's worker processes, a multiprocessing helper)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                with contextlib.suppress(OSError):
                    pending.extend(int(child) for child in (task / "children").read_text().split())
    return found


def cpu_seconds(pids: Iterable[int]) -> float:
    """User plus system CPU time of these processes (all their threads) so far, from /proc/<pid>/stat."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # gone: it no longer uses CPU either
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # the command name may hold spaces; fields from 3 on follow
        ticks += int(fields[11]) + int(fields[12])  # utime (field 14) and stime (field 15)
    return ticks / CLOCK_TICKS


@dataclass
class Servers:
    """The processes a benchmark drives, and what they are."""

    gateway_url: str
    bare_url: str
    gateway_pid: int
    bare_pid: int
    simulator_pids: list[int]
    description: str

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by the gateway (with its workers), the bare app and the simulator processes."""
        figures = {"gateway": cpu_seconds(process_tree(self.gateway_pid)), "bare": cpu_seconds([self.bare_pid])}
        if self.simulator_pids:
            figures["simulators"] = cpu_seconds(self.simulator_pids)
        return figures


# ---- load loops ----------------------------------------------------------------------------------------------

#: What a load loop counts for a request whose connection failed (an error, not a crash of the benchmark).
NO_ANSWER = 599
#: The gateway shed the request at once (503 busy): counted apart from errors.
BUSY = 503

Send = Callable[[int], Awaitable[int]]


@dataclass
class LoadRun:
    """What a load loop saw: each answer's status and latency (ms), over how long, and the servers' CPU meanwhile."""

    elapsed_s: float = 0.0
    answers: list[tuple[int, float]] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds each server used during the run

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


async def closed_loop(send: Send, concurrency: int, duration: float, min_requests: int = 0) -> LoadRun:
    """As fast as `concurrency` clients can go, for `duration` seconds and at least `min_requests` requests
    (but never more than ten times `duration`).
    """
    run = LoadRun()
    counter = iter(range(10**9))
    start = time.perf_counter()
    stop, give_up = start + duration, start + 10 * duration

    async def client() -> None:
        while True:
            index, now = next(counter), time.perf_counter()
            if now >= give_up or (now >= stop and index >= min_requests):
                return
            await run.timed(send, index)

    await asyncio.gather(*(client() for _ in range(concurrency)))
    run.elapsed_s = time.perf_counter() - start
    return run


async def measured(servers: Servers, load: Awaitable[LoadRun]) -> LoadRun:
    """Run `load`, noting the CPU each server used meanwhile."""
    before = servers.cpu()
    run = await load
    after = servers.cpu()
    run.cpu_s = {name: after[name] - before[name] for name in before}
    return run


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _per_served_ms(cpu_s: float, served: int) -> float:
    return round(cpu_s * 1000 / served, 3) if served else float("nan")


def report(label: str, run: LoadRun, server: str = "gateway", bare_cpu_ms: float | None = None) -> dict[str, float]:
    """Served (200) per second and their latency; "busy" (503, shed at once) and other answers counted apart;
    the CPU `server` used per served request (and the simulator processes', when there are any), and its ratio
    to the bare app's `bare_cpu_ms`.
    """
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
        "served": len(served),
    }
    line = (
        f"{label:<34} {row['per_s']:>8.1f}/s  p50 {row['p50_ms']:>7.2f} ms  p99 {row['p99_ms']:>7.2f} ms  "
        f"busy {busy}  errors {errors}"
    )
    if server in run.cpu_s:
        row["cpu_ms"] = _per_served_ms(run.cpu_s[server], len(served))
        line += f"  | CPU {row['cpu_ms']:6.2f} ms/req"
        if bare_cpu_ms:
            row["x_bare"] = round(row["cpu_ms"] / bare_cpu_ms, 1)
            line += f" = {row['x_bare']:5.1f}x bare"
    if server == "gateway" and "simulators" in run.cpu_s:
        row["simulators_cpu_ms"] = _per_served_ms(run.cpu_s["simulators"], len(served))
        line += f"  simulators {row['simulators_cpu_ms']:.2f} ms/req"
    print(line, flush=True)
    return row


# ---- starting the servers ------------------------------------------------------------------------------------


@contextlib.contextmanager
def own_postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server, started the way CI does (.ci/postgres.sh), stopped and removed after."""
    port = free_port()
    script = (
        f'PG_PORT={port} source {ROOT / ".ci/postgres.sh"} >&2 && echo "$GATEWAY_TEST_POSTGRES_URL $PG_DATA $PG_BIN"'
    )
    url, data, bin_dir = subprocess.run(
        ["bash", "-c", script], check=True, capture_output=True, text=True
    ).stdout.split()
    try:
        yield url
    finally:
        as_postgres = [] if os.getuid() != 0 else ["runuser", "-u", "postgres", "--"]
        subprocess.run([*as_postgres, f"{bin_dir}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        subprocess.run(["rm", "-rf", data], check=False)


@contextlib.asynccontextmanager
async def fresh_postgres_database(admin_url: str, prefix: str) -> AsyncIterator[str]:
    """A new database on the server of `admin_url` (a SQLAlchemy asyncpg URL), dropped on the way out."""
    import asyncpg
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    await connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


@dataclass
class ServerOptions:
    """How to run the gateway under test (see `bench_arguments`)."""

    simulators: str = "inline"  # inline: mounted in the gateway under /sim/<channel>; process: one process each
    channel_latency_ms: float = 0.0
    workers: int = 1
    database_url: str | None = None  # None: a fresh SQLite file in the var dir
    sqlite_synchronous: str | None = None  # None: the gateway's default

    @classmethod
    def from_args(cls, args: argparse.Namespace, database_url: str | None) -> ServerOptions:
        return cls(args.simulators, args.channel_latency_ms, args.workers, database_url, args.sqlite_synchronous)

    def describe(self) -> str:
        store = "PostgreSQL" if self.database_url else f"SQLite (synchronous={self.sqlite_synchronous or 'default'})"
        workers = f"{self.workers} worker process{'es' if self.workers > 1 else ''}"
        where = "in-process simulators" if self.simulators == "inline" else "simulators in their own processes"
        return f"{store}, {workers}, {where}, channel latency {self.channel_latency_ms:g} ms; {os.cpu_count()} cores"


@contextlib.asynccontextmanager
async def started_servers(options: ServerOptions, var_dir: Path) -> AsyncIterator[Servers]:
    """The gateway (dev mode, a fresh database, var dir `var_dir`), its channel simulators as processes when asked,
    and bench/bare_app.py, on loopback and ready. Logs go to `var_dir`/../*.log.
    """
    logs = var_dir.parent
    env = {
        **os.environ,
        "GATEWAY_DEV_MODE": "true",
        "GATEWAY_VAR_DIR": str(var_dir),
        "GATEWAY_LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    for name in ("GATEWAY_DATABASE_URL", "GATEWAY_CHANNEL_BASE_URLS", "GATEWAY_SIM_LATENCY_MS"):
        env.pop(name, None)
    with contextlib.ExitStack() as stack:
        simulator_pids = []
        if options.simulators == "process":
            urls = {channel: f"http://127.0.0.1:{free_port()}" for channel in CHANNELS}
            for channel, url in urls.items():
                command = [sys.executable, "-m", "adapters.simulators", channel, "--port", url.rsplit(":", 1)[1]]
                command += ["--var-dir", str(var_dir), "--latency-ms", str(options.channel_latency_ms)]
                log = logs / f"simulator-{channel}.log"
                simulator_pids.append(stack.enter_context(process([*command, "--log-level", "warning"], env, log)).pid)
            for channel, url in urls.items():  # before the gateway starts: the keys under var_dir are then theirs
                await wait_ready(f"{url}/_sim/ledger", logs / f"simulator-{channel}.log")
            env["GATEWAY_CHANNEL_BASE_URLS"] = json.dumps(urls)
        elif options.channel_latency_ms:
            env["GATEWAY_SIM_LATENCY_MS"] = str(options.channel_latency_ms)
        if options.database_url is not None:
            env["GATEWAY_DATABASE_URL"] = options.database_url
            env["GATEWAY_AUTO_MIGRATE"] = "true"
        if options.sqlite_synchronous is not None:
            env["GATEWAY_SQLITE_SYNCHRONOUS"] = options.sqlite_synchronous
        gateway_port, bare_port = free_port(), free_port()
        env["GATEWAY_PORT"] = str(gateway_port)
        gateway_cmd = [sys.executable, "-m", "gateway"]
        if options.workers > 1:  # only then: a gateway from before `serve --workers` still runs the default
            gateway_cmd += ["--workers", str(options.workers)]
        gateway_log = logs / "gateway.log"
        gateway = stack.enter_context(process(gateway_cmd, env, gateway_log))
        bare_cmd = [sys.executable, "-m", "uvicorn", "bench.bare_app:app", "--port", str(bare_port)]
        bare_log = logs / "bare.log"
        bare = stack.enter_context(process([*bare_cmd, "--log-level", "warning", "--no-access-log"], env, bare_log))
        servers = Servers(
            f"http://127.0.0.1:{gateway_port}",
            f"http://127.0.0.1:{bare_port}",
            gateway.pid,
            bare.pid,
            simulator_pids,
            options.describe(),
        )
        await wait_ready(f"{servers.gateway_url}/readyz", gateway_log)
        await wait_ready(f"{servers.bare_url}/docs", bare_log)
        yield servers


@contextlib.asynccontextmanager
async def demo_terminal_and_servers(
    options: ServerOptions,
) -> AsyncIterator[tuple[TerminalClient, httpx.AsyncClient, Servers]]:
    """Everything started and ready: the gateway's demo terminal (a signing client), a pooled HTTP client, and
    the servers.
    """
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        var_dir = Path(tmp) / "var"
        async with started_servers(options, var_dir) as servers:
            credentials = json.loads((var_dir / "demo-credentials.json").read_text())
            limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
            async with httpx.AsyncClient(limits=limits, timeout=30) as http:
                key_id, secret = credentials["terminal_key_id"], credentials["terminal_secret"]
                yield TerminalClient(servers.gateway_url, key_id, secret, http), http, servers


async def against_bare(
    servers: Servers,
    send: Send,
    bare: Send,
    rates: list[float],
    args: argparse.Namespace,
) -> dict[str, dict[str, float]]:
    """The bare endpoint flat out (the ceiling, and the CPU a request costs FastAPI itself), then the gateway at
    each offered rate and flat out, each with the server CPU per request served and its ratio to the bare app's.
    """
    results: dict[str, dict[str, float]] = {}
    duration, concurrency, min_requests = args.duration, args.concurrency, args.min_requests
    await closed_loop(bare, 8, 1)  # warm-up
    bare_run = await measured(servers, closed_loop(bare, concurrency, duration, min_requests))
    results["bare max"] = bare_row = report(f"bare FastAPI, closed loop x{concurrency}", bare_run, "bare")
    bare_cpu_ms = bare_row.get("cpu_ms")
    for rate in rates:
        run = await measured(servers, open_loop(send, rate, duration))
        results[f"gateway@{rate:g}/s"] = report(f"gateway, offered {rate:g}/s", run, bare_cpu_ms=bare_cpu_ms)
    run = await measured(servers, closed_loop(send, concurrency, duration, min_requests))
    results["gateway max"] = report(f"gateway, closed loop x{concurrency}", run, bare_cpu_ms=bare_cpu_ms)
    return results


def bench_arguments(description: str | None, rates: str, unit: str, concurrency: int) -> argparse.ArgumentParser:
    """The options every gateway benchmark takes; add `--channel` and the like to what this returns."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default=rates, help=f"offered rates, {unit} per second ('' for none)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--concurrency", type=int, default=concurrency, help="clients in the closed-loop runs")
    parser.add_argument(
        "--min-requests",
        type=int,
        default=3000,
        help="a closed-loop run goes on past --duration until this many requests (at most 10x --duration), so "
        "that the 10 ms clock tick of the CPU figures does not matter",
    )
    parser.add_argument(
        "--simulators",
        choices=["inline", "process"],
        default="inline",
        help="inline: the gateway's in-process simulators (their CPU is the gateway's); process: each channel "
        "simulator in its own process (their CPU is reported apart)",
    )
    parser.add_argument(
        "--channel-latency-ms", type=float, default=0.0, help="the simulators answer each request this late"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="gateway worker processes (gateway serve --workers; PostgreSQL only)"
    )
    store = parser.add_mutually_exclusive_group()
    store.add_argument(
        "--postgres-url", help="a PostgreSQL admin URL (postgresql+asyncpg://...): the bench creates its own database"
    )
    store.add_argument("--start-postgres", action="store_true", help="start a throwaway PostgreSQL like CI does")
    parser.add_argument(
        "--sqlite-synchronous", choices=["NORMAL", "FULL"], help="GATEWAY_SQLITE_SYNCHRONOUS (default: the gateway's)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line at the end")
    return parser


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse combinations the gateway would refuse, before starting anything."""
    postgres = args.postgres_url or args.start_postgres
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.workers > 1 and not postgres:
        parser.error("--workers N > 1 needs PostgreSQL (--postgres-url URL or --start-postgres): SQLite is one process")
    if args.sqlite_synchronous and postgres:
        parser.error("--sqlite-synchronous is a SQLite setting; leave it out with PostgreSQL")
    if args.channel_latency_ms < 0:
        parser.error("--channel-latency-ms must not be negative")


def run_bench(
    parser: argparse.ArgumentParser,
    bench: Callable[[argparse.Namespace, ServerOptions], Awaitable[dict[str, Any]]],
) -> None:
    """Parse the options, provide the database they ask for, run `bench` and print its JSON if asked."""
    args = parser.parse_args()
    check_arguments(parser, args)

    async def main(admin_url: str | None) -> dict[str, Any]:
        if admin_url is None:
            return await bench(args, ServerOptions.from_args(args, None))
        async with fresh_postgres_database(admin_url, "gateway_bench") as url:
            return await bench(args, ServerOptions.from_args(args, url))

    with contextlib.ExitStack() as stack:
        admin_url = args.postgres_url or (stack.enter_context(own_postgres()) if args.start_postgres else None)
        results = asyncio.run(main(admin_url))
    if args.json:
        print(json.dumps(results))


def summary(results: dict[str, dict[str, float]], unit: str) -> None:
    """One line: the closed loop's CPU per request, gateway against bare, and the simulators'."""
    gateway, bare = results.get("gateway max", {}), results.get("bare max", {})
    if "cpu_ms" not in gateway or "cpu_ms" not in bare:
        return
    line = (
        f"CPU per {unit} (closed loop): gateway {gateway['cpu_ms']:.2f} ms, bare FastAPI {bare['cpu_ms']:.2f} ms, "
        f"ratio {gateway.get('x_bare', float('nan')):.1f}"
    )
    if "simulators_cpu_ms" in gateway:
        line += f"; simulator processes {gateway['simulators_cpu_ms']:.2f} ms"
    print(line, flush=True)
