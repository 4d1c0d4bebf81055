"""Shared fixtures: a database per test (SQLite always, PostgreSQL when CI provides a server) and a started app."""

from __future__ import annotations

import gc
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from gateway.app import create_app
from gateway.config import Settings
from gateway.runtime import Runtime

POSTGRES_ADMIN_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL")

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgres",
        id="postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="GATEWAY_TEST_POSTGRES_URL is not set"),
        ],
    ),
]


def pytest_collection_finish(session: pytest.Session) -> None:
    """What imports and collection built lives as long as the run: leave it out of every full collection,
    which pauses the event loop of the test that happens to be running (a live gateway's channel calls)."""
    gc.collect()
    gc.freeze()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh empty database: a SQLite file, or a new database on the PostgreSQL test server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
        return
    assert POSTGRES_ADMIN_URL is not None
    name = f"gw_test_{secrets.token_hex(6)}"
    _postgres_admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_admin(statement: str) -> None:
    """Run one statement outside a transaction on the admin database (CREATE/DROP DATABASE need that)."""
    import asyncio

    import asyncpg

    assert POSTGRES_ADMIN_URL is not None
    url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql")

    async def run() -> None:
        connection = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]  # tests must not read a developer's .env
        var_dir=tmp_path / "var",
        database_url=database_url,
        auto_migrate=True,
        secret_key=SecretStr(secrets.token_urlsafe(16)),
        log_json=False,
        gc_thaw_interval_s=0,  # frozen garbage from a thousand tests' gateways would pile up in this one process
    )


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with its lifespan run (migrated, and seeded when dev mode is on)."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def runtime(app: FastAPI) -> Runtime:
    runtime: Runtime = app.state.runtime
    return runtime


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
        yield http
