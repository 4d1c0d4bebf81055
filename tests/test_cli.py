"""The `gateway` command: creating, listing, disabling merchants and their things and rotating their keys,
finding a dev var dir's secret key, migrating, exporting the spec, refusing bad input."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway import cli
from gateway.app import create_app
from gateway.client import signed_headers
from gateway.config import Settings
from gateway.domain.beijing import BEIJING
from gateway.services.camera_streams import serve_camera_frames

ROOT = Path(__file__).parent.parent


def gateway(tmp_path: Path, *args: str, check: bool = True, dev_mode: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the command in tmp_path; `dev_mode=False` runs it as a second shell next to `./dev serve` would."""
    env = {**os.environ, "GATEWAY_VAR_DIR": str(tmp_path / "var"), "GATEWAY_DEV_MODE": "true"}
    if not dev_mode:
        del env["GATEWAY_DEV_MODE"]
    for name in ("GATEWAY_DATABASE_URL", "GATEWAY_SECRET_KEY"):
        env.pop(name, None)
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


# ---- a dev var dir's secret key ----------------------------------------------------------------------------------


async def test_admin_commands_find_the_dev_secret_key_of_a_dev_var_dir(tmp_path: Path) -> None:
    refused = gateway(tmp_path, "merchants", "create", "--name", "Early", check=False, dev_mode=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "set GATEWAY_SECRET_KEY" in refused.stderr and "is not a dev var dir" in refused.stderr
    assert not (tmp_path / "var" / "secret-key").exists(), "outside dev mode no key is made up"

    dev = Settings(
        _env_file=None,  # type: ignore[call-arg]
        var_dir=tmp_path / "var",
        dev_mode=True,
        database_url=None,
        secret_key=None,
        log_json=False,
    )
    async with started(dev):  # what `./dev serve` does on its first start
        pass
    demo = json.loads((tmp_path / "var" / "demo-credentials.json").read_text())
    args = ["terminals", "create", "--merchant", demo["merchant_id"], "--store", demo["store_id"], "--name", "Till 2"]
    created = await asyncio.to_thread(gateway, tmp_path, *args, dev_mode=False)
    assert "using its dev secret key" in created.stderr
    terminal = json.loads(created.stdout)

    async with started(dev) as app, client_of(app) as http:  # the secret was sealed with the key serve uses
        assert await terminal_answer(http, terminal["key_id"], terminal["secret"]) == "authenticated"


# ---- list, disable, enable, rotate-key, revoke-key ---------------------------------------------------------------


@contextlib.asynccontextmanager
async def started(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test")


def _answer(response: httpx.Response, authenticated_status: int) -> str:
    """The word "authenticated" if the request got past authentication, else the problem's code."""
    if response.status_code == authenticated_status:
        return "authenticated"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.status_code in (401, 403)
    code: str = response.json()["code"]
    return code


async def merchant_answer(http: httpx.AsyncClient, _key_id: str, api_key: str) -> str:
    return _answer(await http.get("/v1/orders", headers={"X-API-Key": api_key}), 200)


async def terminal_answer(http: httpx.AsyncClient, key_id: str, secret: str) -> str:
    path = "/v1/payments/ord_none"
    response = await http.get(path, headers=signed_headers(key_id, secret, "GET", path, b""))
    return _answer(response, 404)  # order_not_found: the terminal was let in


def camera_answer(camera_id: str) -> Callable[[httpx.AsyncClient, str, str], Awaitable[str]]:
    async def answer(http: httpx.AsyncClient, _key_id: str, key: str) -> str:
        response = await http.post(
            f"/v1/cameras/{camera_id}/codes",
            json={"code": "134567890123456789"},
            headers={"Authorization": f"Bearer {key}"},
        )
        return _answer(response, 409)  # no_open_session: the camera was let in

    return answer


@dataclass(frozen=True)
class Keyed:
    """One merchant, terminal or camera as the CLI made it, and how to ask the API whether a key of it works."""

    kind: str  # the command: merchants, terminals, cameras
    thing_id: str
    key_id: str
    secret: str
    secret_field: str  # where create and rotate-key print the secret
    bad_key_code: str  # the 401 of a revoked key
    works: Callable[[httpx.AsyncClient, str, str], Awaitable[str]]  # "authenticated", or the refusal's code


@pytest.fixture
async def shop(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> AsyncIterator[tuple[FastAPI, dict[str, Keyed]]]:
    """A running gateway and, made with the CLI on its database, a merchant with a terminal and a camera."""
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.delenv("GATEWAY_DEV_MODE", raising=False)
    monkeypatch.setenv("GATEWAY_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("GATEWAY_DATABASE_URL", settings.effective_database_url)
    assert settings.secret_key is not None
    monkeypatch.setenv("GATEWAY_SECRET_KEY", settings.secret_key.get_secret_value())
    async with started(settings) as app:
        merchant = await run_cli(capsys, "merchants", "create", "--name", "Noodle Bar")
        store = await run_cli(capsys, "stores", "create", "--merchant", merchant["merchant_id"], "--name", "Main")
        terminal = await run_cli(
            capsys,
            *("terminals", "create", "--merchant", merchant["merchant_id"], "--store", store["store_id"]),
            *("--name", "Till 1"),
        )
        camera = await run_cli(capsys, "cameras", "create", "--terminal", terminal["terminal_id"])
        api_key, camera_key = merchant["api_key"], camera["key"]
        yield (
            app,
            {
                "merchants": Keyed(
                    "merchants",
                    merchant["merchant_id"],
                    key_id_of(api_key),
                    api_key,
                    "api_key",
                    "invalid_api_key",
                    merchant_answer,
                ),
                "terminals": Keyed(
                    "terminals",
                    terminal["terminal_id"],
                    terminal["key_id"],
                    terminal["secret"],
                    "secret",
                    "unknown_terminal_key",
                    terminal_answer,
                ),
                "cameras": Keyed(
                    "cameras",
                    camera["camera_id"],
                    key_id_of(camera_key),
                    camera_key,
                    "key",
                    "invalid_camera_key",
                    camera_answer(camera["camera_id"]),
                ),
            },
        )


def key_id_of(token: str) -> str:
    """`mk_<prefix>` of `mk_<prefix>_<secret>` (the secret may hold '_' too)."""
    kind, prefix, _secret = token.split("_", 2)
    return f"{kind}_{prefix}"


async def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """The command's JSON output; run in a thread, as it runs its own event loop (next to the gateway's)."""
    await asyncio.to_thread(cli.main, list(args))
    return json.loads(capsys.readouterr().out)


async def refused_cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """What the command says on stderr when it refuses (exit 1)."""
    with pytest.raises(SystemExit) as exit_info:
        await asyncio.to_thread(cli.main, list(args))
    assert exit_info.value.code == 1
    return capsys.readouterr().err


@pytest.mark.parametrize("kind", ["merchants", "terminals", "cameras"])
async def test_rotate_key_keeps_both_keys_working_until_the_old_one_is_revoked(
    shop: tuple[FastAPI, dict[str, Keyed]], kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app, things = shop
    thing = things[kind]
    async with client_of(app) as http:
        rotated = await run_cli(capsys, kind, "rotate-key", thing.thing_id)
        new_key_id, new_secret = rotated["key_id"], rotated[thing.secret_field]
        assert rotated["previous_key_id"] == thing.key_id and new_key_id != thing.key_id
        assert await thing.works(http, thing.key_id, thing.secret) == "authenticated"
        assert await thing.works(http, new_key_id, new_secret) == "authenticated"

        [listed] = [row for row in await run_cli(capsys, kind, "list") if thing.thing_id in row.values()]
        assert listed["key_ids"] == [thing.key_id, new_key_id] and listed["disabled_at"] is None
        assert thing.secret not in json.dumps(listed) and new_secret not in json.dumps(listed)

        assert "key rotation already" in await refused_cli(capsys, kind, "rotate-key", thing.thing_id)

        revoked = await run_cli(capsys, kind, "revoke-key", thing.thing_id, thing.key_id)
        assert revoked["revoked_key_id"] == thing.key_id
        assert await thing.works(http, thing.key_id, thing.secret) == thing.bad_key_code
        assert await thing.works(http, new_key_id, new_secret) == "authenticated"
        [listed] = [row for row in await run_cli(capsys, kind, "list") if thing.thing_id in row.values()]
        assert listed["key_ids"] == [new_key_id]

        assert "is the only key" in await refused_cli(capsys, kind, "revoke-key", thing.thing_id, new_key_id)
        assert "no live key" in await refused_cli(capsys, kind, "revoke-key", thing.thing_id, thing.key_id)


@pytest.mark.parametrize("kind", ["merchants", "terminals", "cameras"])
async def test_revoking_the_new_key_of_a_rotation_goes_back_to_the_old_one(
    shop: tuple[FastAPI, dict[str, Keyed]], kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app, things = shop
    thing = things[kind]
    rotated = await run_cli(capsys, kind, "rotate-key", thing.thing_id)
    await run_cli(capsys, kind, "revoke-key", thing.thing_id, rotated["key_id"])
    async with client_of(app) as http:
        assert await thing.works(http, rotated["key_id"], rotated[thing.secret_field]) == thing.bad_key_code
        assert await thing.works(http, thing.key_id, thing.secret) == "authenticated"


@pytest.mark.parametrize("kind", ["merchants", "terminals", "cameras"])
async def test_a_disabled_thing_is_refused_until_enabled(
    shop: tuple[FastAPI, dict[str, Keyed]], kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app, things = shop
    thing = things[kind]
    noun = kind.removesuffix("s")
    async with client_of(app) as http:
        disabled = await run_cli(capsys, kind, "disable", thing.thing_id)
        assert disabled[f"{noun}_id"] == thing.thing_id and disabled["disabled_at"] is not None
        assert await thing.works(http, thing.key_id, thing.secret) == f"{noun}_disabled"
        [listed] = [row for row in await run_cli(capsys, kind, "list") if thing.thing_id in row.values()]
        assert listed["disabled_at"] == disabled["disabled_at"]
        # a wrong secret learns nothing of the state: it is refused as wrong
        wrong = await thing.works(http, thing.key_id, thing.secret[:-2] + "xx")
        assert wrong in {thing.bad_key_code, "invalid_signature"}

        assert (await run_cli(capsys, kind, "enable", thing.thing_id))["disabled_at"] is None
        assert await thing.works(http, thing.key_id, thing.secret) == "authenticated"
    assert f"no {noun} nope" in await refused_cli(capsys, kind, "disable", "nope")


async def test_a_disabled_merchant_s_terminals_and_cameras_are_refused(
    shop: tuple[FastAPI, dict[str, Keyed]], capsys: pytest.CaptureFixture[str]
) -> None:
    app, things = shop
    await run_cli(capsys, "merchants", "disable", things["merchants"].thing_id)
    async with client_of(app) as http:
        for kind in ("terminals", "cameras"):
            thing = things[kind]
            assert await thing.works(http, thing.key_id, thing.secret) == "merchant_disabled"


async def test_list_filters_by_owner_and_shows_no_secret(
    shop: tuple[FastAPI, dict[str, Keyed]], capsys: pytest.CaptureFixture[str]
) -> None:
    _app, things = shop
    merchant, terminal, camera = things["merchants"], things["terminals"], things["cameras"]
    listed = {
        "merchants": await run_cli(capsys, "merchants", "list"),
        "terminals": await run_cli(capsys, "terminals", "list", "--merchant", merchant.thing_id),
        "cameras": await run_cli(capsys, "cameras", "list", "--terminal", terminal.thing_id),
    }
    assert [row["key_ids"] for row in listed["merchants"]] == [[merchant.key_id]]
    assert [row["terminal_id"] for row in listed["terminals"]] == [terminal.thing_id]
    assert [row["camera_id"] for row in listed["cameras"]] == [camera.thing_id]
    assert await run_cli(capsys, "terminals", "list", "--merchant", "mch_other") == []
    assert await run_cli(capsys, "cameras", "list", "--terminal", "trm_other") == []
    text = json.dumps(listed)
    for thing in things.values():
        secret = thing.secret if thing.kind == "terminals" else thing.secret.split("_", 2)[2]  # mk_/ck_ keys
        assert secret not in text


class RefusedSocket:
    """A camera's frame websocket the gateway is expected to close before reading anything."""

    closed: tuple[int, str] | None = None

    async def receive(self) -> dict[str, Any]:
        raise AssertionError("a refused stream is not read")

    async def send_json(self, data: Any) -> None:
        raise AssertionError(f"a refused stream is sent nothing, not {data}")

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


async def test_a_disabled_camera_s_frame_stream_is_closed_as_a_policy_violation(
    shop: tuple[FastAPI, dict[str, Keyed]], capsys: pytest.CaptureFixture[str]
) -> None:
    app, things = shop
    camera = things["cameras"]
    await run_cli(capsys, "cameras", "disable", camera.thing_id)
    socket = RefusedSocket()
    await serve_camera_frames(socket, camera.thing_id, camera.secret, app.state.runtime.cameras)
    assert socket.closed is not None
    assert socket.closed[0] == 1008 and socket.closed[1].startswith("camera_disabled:")


# ---- operators ---------------------------------------------------------------------------------------------------


async def sign_in(http: httpx.AsyncClient, terminal: Keyed, number: str, password: str) -> str:
    """The sign-in's answer on the CLI-made terminal: "signed in", or the refusal's code."""
    body = json.dumps({"number": number, "password": password}).encode()
    headers = signed_headers(terminal.key_id, terminal.secret, "PUT", "/v1/terminal/operator", body)
    response = await http.put(
        "/v1/terminal/operator", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    if response.status_code == 200:
        return "signed in"
    code: str = response.json()["code"]
    return code


async def test_operators_list_disable_enable_and_reset_password(
    shop: tuple[FastAPI, dict[str, Keyed]], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, things = shop
    merchant, terminal = things["merchants"], things["terminals"]
    created = await run_cli(
        capsys,
        *("operators", "create", "--merchant", merchant.thing_id, "--number", "001", "--name", "Li"),
        *("--password", "cashier-001"),
    )
    operator_id = created["operator_id"]

    async def listed(*owner: str) -> dict[str, Any]:
        [row] = [row for row in await run_cli(capsys, "operators", "list", *owner) if row["operator_id"] == operator_id]
        assert not {"password", "password_hash"} & set(row) and "scrypt" not in json.dumps(row)
        return row

    assert (await listed("--merchant", merchant.thing_id))["role"] == "cashier"
    assert await run_cli(capsys, "operators", "list", "--merchant", "mch_other") == []
    async with client_of(app) as http:
        assert [await sign_in(http, terminal, "001", "wrong-pass") for _ in range(5)] == [
            *["operator_sign_in_failed"] * 4,
            "operator_locked",
        ]
        locked = await listed()
        assert locked["failed_sign_ins"] == 5 and locked["locked_until"] is not None
        assert await sign_in(http, terminal, "001", "cashier-001") == "operator_locked"

        reset = await run_cli(capsys, "operators", "reset-password", operator_id, "--password", "new-pass-001")
        assert reset["operator_id"] == operator_id and reset["password_changed_at"] is not None
        unlocked = await listed()
        assert (unlocked["failed_sign_ins"], unlocked["locked_until"]) == (0, None)
        assert await sign_in(http, terminal, "001", "cashier-001") == "operator_sign_in_failed"
        assert await sign_in(http, terminal, "001", "new-pass-001") == "signed in"

        monkeypatch.setattr(cli.getpass, "getpass", lambda _prompt: "typed-pass-001")
        await run_cli(capsys, "operators", "reset-password", operator_id)  # prompted for
        assert await sign_in(http, terminal, "001", "typed-pass-001") == "signed in"
        assert "at least 6 characters" in await refused_cli(
            capsys, "operators", "reset-password", operator_id, "--password", "short"
        )

        disabled = await run_cli(capsys, "operators", "disable", operator_id)
        assert disabled["operator_id"] == operator_id and disabled["disabled_at"] is not None
        assert (await listed())["disabled_at"] == disabled["disabled_at"]
        assert await sign_in(http, terminal, "001", "typed-pass-001") == "operator_disabled"
        assert (await run_cli(capsys, "operators", "enable", operator_id))["disabled_at"] is None
        assert await sign_in(http, terminal, "001", "typed-pass-001") == "signed in"
    for verb in ("disable", "enable", "reset-password"):
        extra = ["--password", "long-enough"] if verb == "reset-password" else []
        assert "no operator op_nope" in await refused_cli(capsys, "operators", verb, "op_nope", *extra)
    assert "operator number 001 is taken" in await refused_cli(
        capsys, "operators", "create", "--merchant", merchant.thing_id, "--number", "001", "--name", "X",
        "--password", "cashier-002",
    )  # fmt: skip


def test_fee_rates_are_shown_and_set(workdir: Path) -> None:
    merchant = json.loads(gateway(workdir, "merchants", "create", "--name", "Fee Shop").stdout)
    shown = json.loads(gateway(workdir, "merchants", "fees", merchant["merchant_id"], "--set", "unionpay=25").stdout)
    rates = {rate["channel"]: (rate["rate_bp"], rate["own"]) for rate in shown["fee_rates"]}
    assert rates == {"wechat": (60, False), "alipay": (60, False), "unionpay": (25, True)}
    refused = gateway(workdir, "merchants", "fees", merchant["merchant_id"], "--set", "unionpay=20000", check=False)
    assert refused.returncode == 1 and "0 to 10000 basis points" in refused.stderr
    malformed = gateway(workdir, "merchants", "fees", merchant["merchant_id"], "--set", "paypal=5", check=False)
    assert malformed.returncode == 2 and "is not CHANNEL=BP" in malformed.stderr


def test_reconcile_refuses_days_without_a_bill_yet_and_bad_ranges(workdir: Path) -> None:
    today = datetime.now(UTC).astimezone(BEIJING).date()
    future = gateway(workdir, "reconcile", "--date", today.isoformat(), check=False)
    assert future.returncode == 1 and "has not ended in Beijing" in future.stderr and "Traceback" not in future.stderr
    backwards = gateway(workdir, "reconcile", "--date", "2026-11-05", "--to", "2026-11-01", check=False)
    assert backwards.returncode != 0 and "--to must be --date or up to 30 days after it" in backwards.stderr
    bad = gateway(workdir, "reconcile", "--date", "2026-11-31", check=False)
    assert bad.returncode == 2 and "is not a date YYYY-MM-DD" in bad.stderr
