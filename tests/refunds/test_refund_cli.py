"""`gateway merchants create --refund-requires-supervisor` and `gateway merchants set`: the merchant's rule."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.persistence import refunds
from gateway.persistence.database import Database
from tests.test_cli import gateway


async def _requires_supervisor(tmp_path: Path, merchant_id: str) -> bool:
    db = Database(f"sqlite:///{tmp_path / 'var' / 'gateway.db'}")
    try:
        return await db.transaction(refunds.requires_supervisor, merchant_id)
    finally:
        await db.dispose()


async def test_the_supervisor_rule_from_the_command_line(tmp_path: Path) -> None:
    strict = json.loads(gateway(tmp_path, "merchants", "create", "--name", "A", "--refund-requires-supervisor").stdout)
    relaxed = json.loads(gateway(tmp_path, "merchants", "create", "--name", "B").stdout)
    assert await _requires_supervisor(tmp_path, strict["merchant_id"])
    assert not await _requires_supervisor(tmp_path, relaxed["merchant_id"])

    changed = gateway(tmp_path, "merchants", "set", relaxed["merchant_id"], "--refund-requires-supervisor", "true")
    assert json.loads(changed.stdout) == {"merchant_id": relaxed["merchant_id"], "refund_requires_supervisor": True}
    assert await _requires_supervisor(tmp_path, relaxed["merchant_id"])
    gateway(tmp_path, "merchants", "set", strict["merchant_id"], "--refund-requires-supervisor", "false")
    assert not await _requires_supervisor(tmp_path, strict["merchant_id"])

    unknown = gateway(tmp_path, "merchants", "set", "mch_nobody", "--refund-requires-supervisor", "true", check=False)
    assert unknown.returncode != 0 and "mch_nobody" in unknown.stderr
    bad = gateway(
        tmp_path, "merchants", "set", strict["merchant_id"], "--refund-requires-supervisor", "yes", check=False
    )
    assert bad.returncode == 2
