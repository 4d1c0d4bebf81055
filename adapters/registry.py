"""From settings to adapters: one adapter per channel, and the simulators that stand in for the channels."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

from adapters.alipay import client as alipay_client
from adapters.alipay import simulator as alipay_simulator
from adapters.protocol import ChannelAdapter
from adapters.simcore.app import ChannelSimulator, SimulatorSettings
from adapters.unionpay import client as unionpay_client
from adapters.unionpay import simulator as unionpay_simulator
from adapters.wechat import client as wechat_client
from adapters.wechat import simulator as wechat_simulator

#: channel -> (its simulator module, its adapter class)
CHANNELS: dict[str, tuple[ModuleType, Any]] = {
    "wechat": (wechat_simulator, wechat_client.WechatAdapter),
    "alipay": (alipay_simulator, alipay_client.AlipayAdapter),
    "unionpay": (unionpay_simulator, unionpay_client.UnionpayAdapter),
}


#: Milliseconds every simulator made by `create_simulators` waits before each protocol answer, when the caller
#: gives neither `settings` nor `latency_ms`: how the benchmarks give the gateway's in-process simulators a latency.
SIM_LATENCY_ENV = "GATEWAY_SIM_LATENCY_MS"


def create_simulators(
    var_dir: Path, settings: SimulatorSettings | None = None, latency_ms: float | None = None
) -> dict[str, ChannelSimulator]:
    """One simulator per channel, with keys kept under var_dir.

    `latency_ms` (default: $GATEWAY_SIM_LATENCY_MS when no `settings` are given, else none) delays each protocol
    answer with an asyncio sleep, as a channel across a network would.
    """
    if latency_ms is None and settings is None:
        latency_ms = _latency_ms_from_env()
    if latency_ms:
        if not latency_ms > 0:
            raise ValueError(f"a channel latency is a number of milliseconds >= 0, not {latency_ms}")
        settings = dataclasses.replace(settings or SimulatorSettings(), latency_s=latency_ms / 1000)
    return {name: module.create_simulator(var_dir, settings) for name, (module, _adapter) in CHANNELS.items()}


def _latency_ms_from_env() -> float:
    text = os.environ.get(SIM_LATENCY_ENV, "").strip()
    try:
        return float(text) if text else 0.0
    except ValueError:
        raise ValueError(f"{SIM_LATENCY_ENV} must be a number of milliseconds, not {text!r}") from None


def simulator_adapters(
    var_dir: Path, base_urls: Mapping[str, str], http: httpx.AsyncClient, timeout_s: float
) -> dict[str, ChannelAdapter]:
    """Adapters holding the merchant-side credentials that match the simulators made from the same var_dir."""
    adapters: dict[str, ChannelAdapter] = {}
    for name, base_url in base_urls.items():
        module, adapter_class = CHANNELS[name]
        config = dataclasses.replace(module.adapter_config(var_dir, base_url.rstrip("/")), timeout_s=timeout_s)
        adapters[name] = adapter_class(config, http)
    return adapters
