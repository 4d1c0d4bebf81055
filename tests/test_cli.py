"""The `gateway` command: creating merchants and their things, migrating, exporting the spec, refusing bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


def gateway(tmp_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_VAR_DIR": str(tmp_path / "var"), "GATEWAY_DEV_MODE": "true"}
    env.pop("GATEWAY_DATABASE_URL", None)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "gateway"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


def test_create_a_merchant_with_store_terminal_and_operator(workdir: Path) -> None:
    merchant = json.loads(gateway(workdir, "merchants", "create", "--name", "Noodle Bar").stdout)
    assert merchant["api_key"].startswith("mk_")
    store = json.loads(
        gateway(workdir, "stores", "create", "--merchant", merchant["merchant_id"], "--name", "Main").stdout
    )
    terminal = json.loads(
        gateway(
            workdir,
            "terminals",
            "create",
            "--merchant",
            merchant["merchant_id"],
            "--store",
            store["store_id"],
            "--name",
            "Till 1",
            "--daily-limit-fen",
            "5000000",
        ).stdout
    )
    assert terminal["key_id"].startswith("tk_") and len(terminal["secret"]) >= 32
    operator = json.loads(
        gateway(
            workdir,
            "operators",
            "create",
            "--merchant",
            merchant["merchant_id"],
            "--number",
            "007",
            "--name",
            "Li",
            "--role",
            "supervisor",
            "--password",
            "s3cret-pass",
        ).stdout
    )
    assert operator["role"] == "supervisor"
    database = (workdir / "var" / "gateway.db").read_bytes()
    assert merchant["api_key"].split("_", 2)[2].encode() not in database, "API key secrets are stored hashed"
    assert terminal["secret"].encode() not in database, "terminal secrets are stored encrypted"
    assert b"s3cret-pass" not in database


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stores", "create", "--merchant", "mch_missing", "--name", "X"], "no merchant mch_missing"),
        (["merchants", "create", "--name", "   "], "name must be 1-128 characters"),
    ],
)
def test_bad_input_is_a_clear_error(workdir: Path, args: list[str], message: str) -> None:
    result = gateway(workdir, *args, check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_and_openapi(workdir: Path) -> None:
    assert "latest revision" in gateway(workdir, "db", "upgrade").stdout
    gateway(workdir, "openapi", "--output", "spec.json")
    assert (workdir / "spec.json").read_text() == (ROOT / "openapi" / "openapi.json").read_text()
