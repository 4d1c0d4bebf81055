"""Gateways and channel simulators as their own processes: for crashes, and for several instances on one database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx

from adapters.simcore.faults import Fault
from tests.support.servers import free_port

CHANNELS = ("wechat", "alipay", "unionpay")


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


@contextlib.contextmanager
def simulators(var_dir: Path) -> Iterator[dict[str, str]]:
    """The three channel simulators as their own processes: they outlive a gateway's crash, and serve several."""
    ports = {channel: free_port() for channel in CHANNELS}
    processes = [
        subprocess.Popen(
            python(
                "-m",
                "adapters.simulators",
                channel,
                "--port",
                str(port),
                "--var-dir",
                str(var_dir),
                "--time-scale",
                "0.5",
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for channel, port in ports.items()
    ]
    try:
        yield {channel: f"http://127.0.0.1:{port}" for channel, port in ports.items()}
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


class GatewayProcess:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, http: httpx.AsyncClient) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(python("-m", "gateway"), env=self.env, stdout=log, stderr=log)
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{self.url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the gateway did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@contextlib.asynccontextmanager
async def gateway_process(
    tmp_path: Path, database_url: str, sim_urls: dict[str, str], name: str = "gateway", **env: str
) -> AsyncIterator[GatewayProcess]:
    """A dev-mode gateway on `tmp_path/var` (instances given the same tmp_path share keys and demo credentials)."""
    port = free_port()
    environment = {
        **os.environ,
        "GATEWAY_DEV_MODE": "true",
        "GATEWAY_VAR_DIR": str(tmp_path / "var"),
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_AUTO_MIGRATE": "true",
        "GATEWAY_PORT": str(port),
        "GATEWAY_CHANNEL_BASE_URLS": json.dumps(sim_urls),
        "GATEWAY_TIME_SCALE": "0.1",
        "GATEWAY_MICROPAY_WAIT_S": "0",
        "GATEWAY_CHANNEL_TIMEOUT_S": "2",
        "GATEWAY_LOG_LEVEL": "WARNING",
        **env,
    }
    gateway = GatewayProcess(environment, port, tmp_path / f"{name}.log")
    try:
        yield gateway
    finally:
        gateway.stop()


async def payment_code(http: httpx.AsyncClient, sim_url: str, fault: Fault = Fault.SUCCESS) -> str:
    """A fresh code from a new customer of a standalone simulator's wallet."""
    customer = (await http.post(f"{sim_url}/_sim/customers", json={})).json()
    issued = await http.post(f"{sim_url}/_sim/customers/{customer['customer_id']}/codes", json={"fault": fault.value})
    return str(issued.json()["auth_code"])
