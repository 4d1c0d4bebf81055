"""Fixtures for the UnionPay tests: keys made once per run, a fresh simulator per test, an adapter for it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from adapters.simcore.app import SimulatorSettings
from adapters.simcore.bank import BankSettings
from adapters.unionpay.client import UnionpayAdapter, UnionpayConfig
from adapters.unionpay.simulator import UnionpaySimulator, adapter_config, create_simulator

ADAPTER_TIMEOUT_S = 0.5
HANG_S = 1.5  # longer than the adapter waits, so an injected HTTP timeout is one


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("unionpay-var")


@pytest.fixture
def settings() -> SimulatorSettings:
    return SimulatorSettings(bank=BankSettings(time_scale=0.01), hang_s=HANG_S)


@pytest.fixture
def simulator(var_dir: Path, settings: SimulatorSettings) -> UnionpaySimulator:
    return create_simulator(var_dir, settings)


@pytest.fixture(scope="session")
def credentials(var_dir: Path) -> UnionpayConfig:
    """The merchant side of the keys, read once (loading RSA keys is slow enough to matter here)."""
    return adapter_config(var_dir, "")


@pytest.fixture
def config(credentials: UnionpayConfig, sim_url: str) -> UnionpayConfig:
    return replace(credentials, base_url=sim_url, timeout_s=ADAPTER_TIMEOUT_S)


@pytest.fixture
def adapter(config: UnionpayConfig, http: httpx.AsyncClient) -> UnionpayAdapter:
    return UnionpayAdapter(config, http)
