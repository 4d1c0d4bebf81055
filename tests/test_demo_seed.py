"""Dev mode seeds a demo merchant once, writes its credentials, and the key works."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from gateway.app import create_app
from gateway.config import Settings


async def test_demo_merchant_is_created_once_and_its_key_works(settings: Settings) -> None:
    dev = settings.model_copy(update={"dev_mode": True})
    credentials_path = Path(dev.var_dir) / "demo-credentials.json"
    for start in range(2):
        app = create_app(dev)
        async with app.router.lifespan_context(app):
            credentials = json.loads(credentials_path.read_text())
            if start == 0:
                first = credentials
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
                response = await client.get("/v1/orders", headers={"X-API-Key": credentials["api_key"]})
        assert response.status_code == 200
        assert credentials == first, "a restart keeps the same demo merchant"
    assert oct(credentials_path.stat().st_mode & 0o777) == "0o600"
    assert set(first) >= {"merchant_id", "api_key", "terminal_id", "terminal_key_id", "terminal_secret", "operators"}
