"""Schemathesis against a live dev gateway: no operation answers a 5xx or anything its OpenAPI schema does not say."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gateway.client import signed_headers
from gateway.config import Settings
from gateway.openapi_export import render_openapi
from tests.support.live import LiveGateway, live_gateway

#: The spec every client reads, rendered from the app (websockets and the dev-only simulators mounted under /sim are
#: not in it, so nothing is excluded: the operations below are all of the documented HTTP API).
schema = schemathesis.openapi.from_dict(json.loads(render_openapi()))

#: Examples per operation and generation phase (Hypothesis): about 3,000 requests, under a minute on 2 busy cores.
MAX_EXAMPLES = 100
STARTUP_TIMEOUT_S = 60.0

#: Ids of things that exist on the gateway under test, by path parameter name (the fixture fills it in): a generated
#: path parameter is either what Schemathesis drew or one of these, so operations get past their 404s.
KNOWN_PATH_VALUES: dict[str, list[str]] = {}

#: Operations anybody may call; every other one is a merchant's, a camera's (by their security schemes) or a terminal's.
UNAUTHENTICATED = {"/healthz", "/readyz", "/metrics", "/v1/notify/{channel}"}


@schema.hook
def flatmap_path_parameters(context: schemathesis.HookContext, path_parameters: Any) -> st.SearchStrategy[Any]:
    """Each path parameter: the value drawn, or the id of something that exists."""
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    return st.fixed_dictionaries(
        {name: st.sampled_from([value, *KNOWN_PATH_VALUES.get(name, [])]) for name, value in path_parameters.items()}
    )


@dataclass(frozen=True)
class Credentials:
    url: str
    api_key: str
    terminal_key_id: str
    terminal_secret: str
    camera_id: str
    camera_key: str


class TerminalSignature(requests.auth.AuthBase):
    """Signs the request as it goes on the wire: the raw path with its query, and the exact body bytes."""

    def __init__(self, key_id: str, secret: str) -> None:
        self.key_id, self.secret = key_id, secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        assert isinstance(body, bytes), f"a body that is not bytes cannot be signed as sent: {type(body)}"
        assert request.method is not None
        request.headers.update(signed_headers(self.key_id, self.secret, request.method, request.path_url, body))
        return request


class HeaderAuth(requests.auth.AuthBase):
    def __init__(self, name: str, value: str) -> None:
        self.name, self.value = name, value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers[self.name] = self.value
        return request


async def _loopback_resolver(host: str, port: int) -> list[str]:
    """Every webhook host is this machine: a generated notify URL must not reach the network."""
    return ["127.0.0.1"]


class ThreadedGateway:
    """A live dev gateway on its own event loop in a thread, for the synchronous tests Hypothesis runs."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), name="schemathesis-gateway")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self.gateway: LiveGateway | None = None

    async def _serve(self) -> None:
        try:
            async with live_gateway(self._settings) as gateway:
                gateway.runtime.webhooks.resolver = _loopback_resolver
                self._loop, self._stop, self.gateway = asyncio.get_running_loop(), asyncio.Event(), gateway
                self._ready.set()
                await self._stop.wait()
        except BaseException as exc:
            self._failure = exc
            raise
        finally:
            self._ready.set()

    def __enter__(self) -> LiveGateway:
        self._thread.start()
        assert self._ready.wait(STARTUP_TIMEOUT_S), "the gateway did not start"
        if self.gateway is None:
            raise RuntimeError("the gateway did not start") from self._failure
        return self.gateway

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(STARTUP_TIMEOUT_S)
        assert not self._thread.is_alive(), "the gateway did not stop"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Credentials]:
    var_dir: Path = tmp_path_factory.mktemp("schemathesis") / "var"
    base = Settings(
        _env_file=None,  # tests must not read a developer's .env
        var_dir=var_dir,
        database_url=f"sqlite:///{var_dir.parent / 'gateway.db'}",
        auto_migrate=True,
        secret_key=SecretStr("schemathesis-test-secret-key"),
        log_json=False,
        gc_thaw_interval_s=0,
    )
    with ThreadedGateway(base) as live:
        demo: dict[str, Any] = live.credentials
        credentials = Credentials(
            live.url,
            demo["api_key"],
            demo["terminal_key_id"],
            demo["terminal_secret"],
            demo["camera_id"],
            demo["camera_key"],
        )
        KNOWN_PATH_VALUES.update(_existing_things(credentials, demo))
        try:
            yield credentials
        finally:
            KNOWN_PATH_VALUES.clear()


def _existing_things(credentials: Credentials, demo: dict[str, Any]) -> dict[str, list[str]]:
    """A paid micropay, an open QR order and a scan session on the demo terminal, by the names paths give their ids."""
    with httpx.Client(base_url=credentials.url, timeout=10) as http:

        def signed(path: str, body: dict[str, Any]) -> dict[str, Any]:
            content = json.dumps(body).encode()
            headers = signed_headers(credentials.terminal_key_id, credentials.terminal_secret, "POST", path, content)
            response = http.post(path, content=content, headers={**headers, "Content-Type": "application/json"})
            assert response.status_code in (200, 201, 202), response.text
            answer: dict[str, Any] = response.json()
            return answer

        customer = http.post("/sim/wechat/_sim/customers", json={}).json()["customer_id"]
        code = http.post(f"/sim/wechat/_sim/customers/{customer}/codes", json={}).json()["auth_code"]
        paid = signed("/v1/payments/micropay", {"amount_fen": 1, "out_trade_no": "SchemaPaid1", "auth_code": code})
        qr = signed("/v1/payments/qr", {"amount_fen": 1, "out_trade_no": "SchemaQr1", "channel": "aggregate"})
        session = signed("/v1/payments/scan-sessions", {"amount_fen": 1})
    return {
        "order_id": [paid["order_id"], qr["order_id"]],
        "session_id": [session["session_id"]],
        "terminal_id": [demo["terminal_id"]],
        "camera_id": [credentials.camera_id],
        "channel": ["wechat", "alipay", "unionpay"],
    }


def _auth(case: schemathesis.Case, credentials: Credentials) -> requests.auth.AuthBase | None:
    """How the operation's callers authenticate: the merchant key, the camera key, or the terminal's signature."""
    if case.operation.path in UNAUTHENTICATED:
        return None
    schemes = {name for requirement in case.operation.definition.raw.get("security", []) for name in requirement}
    if "MerchantApiKey" in schemes:
        return HeaderAuth("X-API-Key", credentials.api_key)
    if "CameraKey" in schemes:
        return HeaderAuth("Authorization", f"Bearer {credentials.camera_key}")
    return TerminalSignature(credentials.terminal_key_id, credentials.terminal_secret)


def credentials_accepted(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """Our credentials get every authenticated case past authentication: else the run tests only the 401 path.

    A signed request earns a 401 only for a generated path holding a control character (`invalid_path`), and the
    camera key only for another camera's path (`invalid_camera_key`).
    """
    if response.status_code != 401 or case.operation.path in UNAUTHENTICATED:
        return
    code = response.json().get("code")
    another_camera = (case.path_parameters or {}).get("camera_id") not in KNOWN_PATH_VALUES["camera_id"]
    assert code == "invalid_path" or (code == "invalid_camera_key" and another_camera), (
        f"the gateway refused the test's credentials: {code}"
    )


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    credentials_accepted,
]


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_operation_conforms(case: schemathesis.Case, gateway: Credentials) -> None:
    case.call_and_validate(base_url=gateway.url, checks=CHECKS, auth=_auth(case, gateway), timeout=10)
