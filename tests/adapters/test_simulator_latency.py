"""Channel latency of the simulators: an asyncio sleep before each protocol answer, from the CLI or the env."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import adapters.simcore.app as simcore_app
from adapters import simulators
from adapters.registry import CHANNELS, SIM_LATENCY_ENV, create_simulators
from adapters.simcore.app import SimulatorSettings
from adapters.wechat import simulator as wechat_simulator


def latencies(sims: dict[str, Any]) -> set[float]:
    return {sim.settings.latency_s for sim in sims.values()}


def test_create_simulators_gives_every_channel_the_latency(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SIM_LATENCY_ENV, raising=False)
    sims = create_simulators(tmp_path, latency_ms=80)
    assert set(sims) == set(CHANNELS) and latencies(sims) == {0.08}
    assert latencies(create_simulators(tmp_path)) == {0.0}


def test_in_process_simulators_take_the_latency_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SIM_LATENCY_ENV, "25")
    assert latencies(create_simulators(tmp_path)) == {0.025}
    # explicit settings win over the environment
    assert latencies(create_simulators(tmp_path, SimulatorSettings(latency_s=0.5))) == {0.5}
    assert latencies(create_simulators(tmp_path, latency_ms=0)) == {0.0}


@pytest.mark.parametrize("text", ["-5", "soon", "nan"])
def test_a_bad_latency_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(SIM_LATENCY_ENV, text)
    with pytest.raises(ValueError, match="milliseconds"):
        create_simulators(tmp_path)


async def test_the_latency_is_an_asyncio_sleep_before_the_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []

    async def sleep(delay: float) -> None:  # the event loop's sleep: other requests are served meanwhile
        slept.append(delay)

    monkeypatch.setattr(simcore_app, "asyncio", SimpleNamespace(sleep=sleep))
    for simulator in create_simulators(tmp_path, latency_ms=80).values():
        await simulator.before_answer()
    assert slept == [0.08] * len(CHANNELS)


def test_the_cli_flag_is_in_milliseconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[Any] = []
    served: list[dict[str, Any]] = []

    def create_simulator(var_dir: Path, settings: SimulatorSettings) -> Any:
        made.append(settings)
        return SimpleNamespace(app=object())

    monkeypatch.setattr(wechat_simulator, "create_simulator", create_simulator)
    monkeypatch.setattr(simulators.uvicorn, "run", lambda app, **options: served.append(options))
    simulators.main(["wechat", "--port", "9199", "--var-dir", str(tmp_path), "--latency-ms", "80"])
    assert made[0].latency_s == pytest.approx(0.08) and served[0]["port"] == 9199
    with pytest.raises(SystemExit):
        simulators.main(["wechat", "--latency-ms", "-1"])
