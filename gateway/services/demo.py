"""Dev mode's demo merchant, store, terminal and operators, created on first start, and what a start prints."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.services.cameras import CameraService
from gateway.services.credentials import write_private_file
from gateway.services.merchants import MerchantService

log = logging.getLogger(__name__)

DEMO_CASHIER = {"number": "001", "name": "Demo Cashier", "password": "cashier-001", "role": "cashier"}
DEMO_SUPERVISOR = {"number": "900", "name": "Demo Supervisor", "password": "supervisor-900", "role": "supervisor"}


@dataclass(frozen=True)
class DemoSeed:
    """The demo credentials, the file that keeps them, and whether this start created them."""

    credentials: dict[str, Any]
    path: Path
    created: bool

    def banner(self, docs_url: str) -> str:
        """What a start prints: the API key and the operators' passwords once, when they are created; later
        starts say where they are.
        """
        c = self.credentials
        if not self.created:
            return (
                f"Demo merchant {c['merchant_id']}, terminal {c['terminal_id']} (key {c['terminal_key_id']}), "
                f"camera {c['camera_id']}\n"
                f"Demo credentials (API key, terminal secret, camera key, operator passwords): {self.path}\n"
                f"Swagger: {docs_url}"
            )
        operators = [
            f"Demo operator {operator['number']}, {operator['role']}: password {operator['password']}"
            for operator in c["operators"]
        ]
        return "\n".join(
            [
                f"Demo merchant {c['merchant_id']}: API key {c['api_key']}",
                f"Demo terminal {c['terminal_id']}: key {c['terminal_key_id']} (its secret is in the credentials file)",
                f"Demo camera {c['camera_id']} (its key is in the credentials file)",
                *operators,
                f"The API key and the passwords are shown only now. All demo credentials: {self.path}",
                f"Swagger: {docs_url}",
            ]
        )


async def ensure_demo_merchant(
    merchants: MerchantService,
    credentials_path: Path,
    cameras: CameraService,
) -> DemoSeed:
    """The demo credentials, creating the demo merchant first if this database does not have it yet."""
    saved = _read_saved(credentials_path)
    if saved is not None and await merchants.exists(saved.get("merchant_id", "")):
        if "camera_id" not in saved:  # seeded before cameras existed
            saved.update(await _demo_camera(cameras, saved["terminal_id"]))
            write_private_file(credentials_path, json.dumps(saved, indent=2) + "\n")
        return DemoSeed(saved, credentials_path, created=False)
    merchant = await merchants.create_merchant("Demo Shop")
    store_id = await merchants.create_store(merchant.merchant_id, "Demo Store")
    terminal = await merchants.create_terminal(merchant.merchant_id, store_id, "Demo Terminal")
    for operator in (DEMO_CASHIER, DEMO_SUPERVISOR):
        await merchants.create_operator(merchant.merchant_id, **operator)
    credentials = {
        "merchant_id": merchant.merchant_id,
        "api_key": merchant.api_key,
        "store_id": store_id,
        "terminal_id": terminal.terminal_id,
        "terminal_key_id": terminal.key_id,
        "terminal_secret": terminal.secret,
        **await _demo_camera(cameras, terminal.terminal_id),
        "operators": [DEMO_CASHIER, DEMO_SUPERVISOR],
    }
    write_private_file(credentials_path, json.dumps(credentials, indent=2) + "\n")
    log.info("demo merchant created; credentials written to %s", credentials_path)
    return DemoSeed(credentials, credentials_path, created=True)


async def _demo_camera(cameras: CameraService, terminal_id: str) -> dict[str, str]:
    camera = await cameras.create_camera(terminal_id, "Demo Camera")
    return {"camera_id": camera.camera_id, "camera_key": camera.key}


def _read_saved(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    saved: dict[str, Any] = json.loads(path.read_text())
    return saved
