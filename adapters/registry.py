"""From settings to adapters: one adapter per channel, and the simulators that stand in for the channels."""

from __future__ import annotations

import dataclasses
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


def create_simulators(var_dir: Path, settings: SimulatorSettings | None = None) -> dict[str, ChannelSimulator]:
    """One simulator per channel, with keys kept under var_dir."""
    return {name: module.create_simulator(var_dir, settings) for name, (module, _adapter) in CHANNELS.items()}


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
