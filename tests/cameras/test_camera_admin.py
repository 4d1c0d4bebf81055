"""Cameras are bound to terminals by the CLI (key shown once, stored hashed) and seeded with the dev-mode demo."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from sqlalchemy import select

from gateway.app import create_app
from gateway.config import Settings
from gateway.persistence.tables import Camera
from tests.test_cli import gateway


def test_cameras_create_binds_a_camera_to_a_terminal_and_prints_its_key_once(tmp_path: Path) -> None:
    merchant = json.loads(gateway(tmp_path, "merchants", "create", "--name", "Tea House").stdout)
    store = json.loads(
        gateway(tmp_path, "stores", "create", "--merchant", merchant["merchant_id"], "--name", "A").stdout
    )
    terminal = json.loads(
        gateway(
            tmp_path,
            "terminals",
            "create",
            "--merchant",
            merchant["merchant_id"],
            "--store",
            store["store_id"],
            "--name",
            "Till",
        ).stdout
    )
    created = gateway(tmp_path, "cameras", "create", "--terminal", terminal["terminal_id"], "--name", "counter")
    camera = json.loads(created.stdout)
    assert camera["camera_id"].startswith("cam_") and camera["terminal_id"] == terminal["terminal_id"]
    assert camera["key"].startswith("ck_") and len(camera["key"]) > 40
    assert "shown only now" in created.stderr
    stored = b"".join(path.read_bytes() for path in (tmp_path / "var").glob("gateway.db*"))  # WAL included
    _kind, prefix, secret = camera["key"].split("_", 2)
    assert prefix.encode() in stored and secret.encode() not in stored, "only a hash of the secret is stored"

    unknown = gateway(tmp_path, "cameras", "create", "--terminal", "trm_nope", check=False)
    assert unknown.returncode == 1 and "no terminal trm_nope" in unknown.stderr


async def test_dev_mode_seeds_a_demo_camera_whose_key_works(settings: Settings) -> None:
    dev = settings.model_copy(update={"dev_mode": True})
    path = Path(dev.var_dir) / "demo-credentials.json"
    for start in range(3):
        if start == 2:  # credentials written before cameras existed get a camera on the next start
            saved = json.loads(path.read_text())
            path.write_text(json.dumps({k: v for k, v in saved.items() if not k.startswith("camera_")}))
        app = create_app(dev)
        async with app.router.lifespan_context(app):
            credentials = json.loads(path.read_text())
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
                response = await client.post(
                    f"/v1/cameras/{credentials['camera_id']}/codes",
                    json={"code": "134567890123456789"},
                    headers={"Authorization": f"Bearer {credentials['camera_key']}"},
                )
            cameras = await app.state.runtime.db.transaction(lambda tx: list(tx.session.scalars(select(Camera))))
        assert response.status_code == 409 and response.json()["code"] == "no_open_session"
        assert {camera.terminal_id for camera in cameras} == {credentials["terminal_id"]}
        assert len(cameras) == (1 if start < 2 else 2)
