"""Fixtures for the WeChat channel: a simulator and an adapter (the control API and notify receiver are shared)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from adapters.protocol import MicropayRequest
from adapters.simcore.app import SimulatorSettings
from adapters.simcore.bank import BankSettings
from adapters.wechat.client import WechatAdapter, WechatConfig
from adapters.wechat.simulator import WechatSimulator, adapter_config, create_simulator
from tests.support.simcontrol import order_no

HANG_S = 0.8  # how long the simulator holds an "HTTP timeout" request (impatient_adapter gives up sooner)


def micropay_request(auth_code: str, amount_fen: int = 1_234, out_trade_no: str | None = None) -> MicropayRequest:
    return MicropayRequest(out_trade_no or order_no(), amount_fen, auth_code, "QR shop - coffee", terminal_id="T01")


@pytest.fixture
def simulator(tmp_path: Path) -> WechatSimulator:
    settings = SimulatorSettings(bank=BankSettings(time_scale=0.01), hang_s=HANG_S)
    return create_simulator(tmp_path, settings)


@pytest.fixture
def config(tmp_path: Path, sim_url: str) -> WechatConfig:
    return adapter_config(tmp_path, sim_url)


@pytest.fixture
def adapter(config: WechatConfig, http: httpx.AsyncClient) -> WechatAdapter:
    return WechatAdapter(config, http)
