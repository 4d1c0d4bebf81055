"""Dev mode seeds a demo merchant once, writes its credentials, prints its secrets only then, and the key works."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.config import Settings


async def test_demo_merchant_is_created_once_and_its_key_works(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = settings.model_copy(update={"dev_mode": True})
    credentials_path = Path(dev.var_dir) / "demo-credentials.json"
    printed = []
    for start in range(2):
        app = create_app(dev)
        async with app.router.lifespan_context(app):
            credentials = json.loads(credentials_path.read_text())
            if start == 0:
                first = credentials
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
                response = await client.get("/v1/orders", headers={"X-API-Key": credentials["api_key"]})
        printed.append(capsys.readouterr().out)
        assert response.status_code == 200
        assert credentials == first, "a restart keeps the same demo merchant"
    assert oct(credentials_path.stat().st_mode & 0o777) == "0o600"
    assert set(first) >= {"merchant_id", "api_key", "terminal_id", "terminal_key_id", "terminal_secret", "operators"}

    on_creation, later = printed
    assert f"Demo merchant {first['merchant_id']}: API key {first['api_key']}\n" in on_creation
    assert "Demo operator 001, cashier: password cashier-001\n" in on_creation
    assert "Demo operator 900, supervisor: password supervisor-900\n" in on_creation
    assert f"All demo credentials: {credentials_path}\n" in on_creation
    assert f"Demo credentials (API key, terminal secret, camera key, operator passwords): {credentials_path}\n" in later
    assert first["merchant_id"] in later and first["terminal_key_id"] in later
    for secret in (first["api_key"], first["terminal_secret"], first["camera_key"], "cashier-001", "supervisor-900"):
        assert secret not in later, "a restart prints no secret"
    for secret in (first["terminal_secret"], first["camera_key"]):
        assert secret not in on_creation, "only the API key and the passwords are printed, once"
    assert on_creation.endswith(f"Swagger: {dev.base_url}/docs\n") and later.endswith(f"Swagger: {dev.base_url}/docs\n")
