"""Fixtures for the Alipay channel: simulators, adapters, hand-built requests (control API and receiver are shared)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.alipay.client import AlipayAdapter, AlipayConfig
from adapters.alipay.signing import Rsa2Signer
from adapters.alipay.simulator import AlipaySimulator, adapter_config, create_simulator
from adapters.alipay.wire import FORM_CONTENT_TYPE, GATEWAY_PATH, encode_form, request_params
from adapters.protocol import MicropayRequest, PrecreateRequest
from adapters.simcore.app import SimulatorSettings
from adapters.simcore.bank import BankSettings
from adapters.simcore.keys import public_pem
from tests.support.servers import serve_app
from tests.support.simcontrol import order_no

HANG_S = 0.8  # how long the simulator holds an "HTTP timeout" request (impatient_adapter gives up sooner)


def micropay_request(auth_code: str, amount_fen: int = 1_234, out_trade_no: str | None = None) -> MicropayRequest:
    return MicropayRequest(out_trade_no or order_no(), amount_fen, auth_code, "QR shop - 咖啡", terminal_id="T01")


def precreate_request(notify_url: str, amount_fen: int = 2_500, out_trade_no: str | None = None) -> PrecreateRequest:
    expires_at = datetime.now(UTC) + timedelta(minutes=15)
    return PrecreateRequest(out_trade_no or order_no("P"), amount_fen, "QR shop - 奶茶", notify_url, expires_at)


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One var/ for the session: key generation is the slow part and the keys do not change between tests."""
    return tmp_path_factory.mktemp("alipay-var")


@pytest.fixture(scope="session")
def stranger_key() -> tuple[str, str]:
    """(private PEM, public PEM) of a key pair nobody in the test knows: neither the app's nor Alipay's."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private.decode(), public_pem(key)


def make_simulator(var_dir: Path, time_scale: float = 0.01) -> AlipaySimulator:
    return create_simulator(var_dir, SimulatorSettings(bank=BankSettings(time_scale=time_scale), hang_s=HANG_S))


@contextlib.asynccontextmanager
async def served_simulator(var_dir: Path, time_scale: float) -> AsyncIterator[tuple[AlipaySimulator, str]]:
    """A simulator with its own time scale on its own loopback server (for notification ladders)."""
    simulator = make_simulator(var_dir, time_scale)
    async with serve_app(simulator.app) as url:
        yield simulator, url


@pytest.fixture
def simulator(var_dir: Path) -> AlipaySimulator:
    return make_simulator(var_dir)


@pytest.fixture
def config(var_dir: Path, sim_url: str) -> AlipayConfig:
    return adapter_config(var_dir, sim_url)


@pytest.fixture
def adapter(config: AlipayConfig, http: httpx.AsyncClient) -> AlipayAdapter:
    return AlipayAdapter(config, http)


def signed_params(config: AlipayConfig, method: str, biz: dict[str, Any], /, **overrides: str | None) -> dict[str, str]:
    """A hand-built gateway request, signed with the app key after `overrides` (so they are part of the sign)."""
    params = {**request_params(config.app_id, method, biz, None), **overrides}
    return Rsa2Signer(config.app_private_key).signed({k: v for k, v in params.items() if v is not None})


async def raw_call(http: httpx.AsyncClient, base_url: str, params: dict[str, str]) -> dict[str, Any]:
    """POST hand-built parameters to the gateway and return the parsed JSON answer."""
    response = await http.post(
        base_url + GATEWAY_PATH, content=encode_form(params), headers={"Content-Type": FORM_CONTENT_TYPE}
    )
    assert response.status_code == 200
    answer: dict[str, Any] = json.loads(response.text)
    return answer
