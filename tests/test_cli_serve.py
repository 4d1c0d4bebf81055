"""`gateway serve --workers N`: N processes on one PostgreSQL, refused on SQLite before anything starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import gateway.app
from gateway import cli

POSTGRES_URL = "postgresql+asyncpg://gateway@127.0.0.1:1/gateway"  # never connected to: the server is faked


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No .env, no database URL from outside; whatever serve sets for its workers is undone after the test."""
    monkeypatch.chdir(tmp_path)
    for name in ("GATEWAY_DATABASE_URL", "GATEWAY_DEV_MODE", "GATEWAY_HOST", "GATEWAY_PORT"):
        # delenv of a variable that is not set records nothing to undo: set it first, so that what serve writes
        # into os.environ for its workers is taken out again (a later test must not start in dev mode)
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(tmp_path / "var"))


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    """What serve hands to uvicorn.run; no app is built and no store is touched."""
    import uvicorn

    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    monkeypatch.setattr(gateway.app, "create_app", lambda settings=None: object())

    async def start_and_stop(_app: Any) -> None:
        calls.append(("prepared once", {}))

    monkeypatch.setattr(cli, "_start_and_stop", start_and_stop)
    return calls


def test_more_than_one_worker_on_sqlite_is_refused_with_a_clear_message(
    served: list[tuple[Any, dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--workers", "2"])
    assert exit_info.value.code == 1
    message = capsys.readouterr().err
    assert "--workers 2 needs PostgreSQL" in message and "SQLite is a single-process store" in message
    assert served == []


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_a_worker_count_below_one_is_a_usage_error(workers: str, served: list[tuple[Any, dict[str, Any]]]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--workers", workers])
    assert exit_info.value.code == 2
    assert served == []


def test_one_worker_serves_the_app_in_this_process(served: list[tuple[Any, dict[str, Any]]]) -> None:
    cli.main(["serve", "--port", "8123"])
    [(app, options)] = served
    assert not isinstance(app, str)
    assert options["port"] == 8123 and "workers" not in options
    assert options.items() >= gateway.app.SERVER_OPTIONS.items()


def test_workers_on_postgresql_each_build_their_app_from_the_same_settings(
    served: list[tuple[Any, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setenv("GATEWAY_DATABASE_URL", POSTGRES_URL)
    cli.main(["serve", "--workers", "3", "--port", "8124", "--dev"])
    assert served[0] == ("prepared once", {})  # migrations and the demo seed, before the workers race for them
    app, options = served[1]
    assert app == "gateway.cli:worker_app" and options["factory"] is True and options["workers"] == 3
    assert options["port"] == 8124
    assert options.items() >= gateway.app.SERVER_OPTIONS.items()
    # the workers are new processes: the command-line overrides reach them through the environment
    assert os.environ["GATEWAY_DEV_MODE"] == "true" and os.environ["GATEWAY_PORT"] == "8124"
    settings = cli.Settings()
    assert settings.dev_mode and settings.port == 8124 and settings.database_url == POSTGRES_URL
