"""Fixtures every channel suite shares; each channel's conftest provides the `simulator` and `adapter` they use."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from adapters.protocol import ChannelAdapter
from adapters.simcore.app import ChannelSimulator
from tests.adapters.refund_support import RefundKit
from tests.support.servers import serve_app
from tests.support.simcontrol import NotifyReceiver, SimControl

SHORT_TIMEOUT_S = 0.3  # an adapter timeout well below the simulators' hang (HANG_S in the channel conftests)
REFUND_DELAY_S = 40.0  # times the suites' 0.01 time scale: an accepted refund is processing for 0.4 s


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
async def sim_url(simulator: ChannelSimulator) -> AsyncIterator[str]:
    """The channel's simulator on a loopback uvicorn server."""
    async with serve_app(simulator.app) as url:
        yield url


@pytest.fixture
def control(http: httpx.AsyncClient, sim_url: str) -> SimControl:
    return SimControl(http, sim_url)


@pytest.fixture
def impatient_adapter(adapter: Any, config: Any, http: httpx.AsyncClient) -> Any:
    """Another of the channel's adapters, one that gives up long before the simulator answers a held request."""
    return type(adapter)(dataclasses.replace(config, timeout_s=SHORT_TIMEOUT_S), http)


@pytest.fixture
async def receiver(adapter: ChannelAdapter) -> AsyncIterator[NotifyReceiver]:
    """A merchant notify_url on its own loopback server, verifying with the channel's adapter."""
    notify = NotifyReceiver(adapter)
    app = Starlette(routes=[Route("/notify", notify.endpoint, methods=["POST"])])
    async with serve_app(app) as url:
        notify.url = f"{url}/notify"
        yield notify


@pytest.fixture
async def refund_receiver(adapter: ChannelAdapter) -> AsyncIterator[NotifyReceiver]:
    """A merchant refund notify_url on its own loopback server, verifying with the adapter's refund parser."""
    notify = NotifyReceiver(adapter, parse=adapter.parse_refund_notification)  # type: ignore[arg-type]
    app = Starlette(routes=[Route("/refund-notify", notify.endpoint, methods=["POST"])])
    async with serve_app(app) as url:
        notify.url = f"{url}/refund-notify"
        yield notify


@pytest.fixture
def refund_kit(
    adapter: ChannelAdapter, control: SimControl, simulator: ChannelSimulator, refund_receiver: NotifyReceiver
) -> RefundKit:
    """What the refund scenarios need, with refunds processing long enough to be seen processing."""
    simulator.bank.settings.refund_delay_s = REFUND_DELAY_S
    return RefundKit(adapter, control, simulator, refund_receiver)
