"""Bad bodies get their own problems, the same on every endpoint, change nothing, and are documented: a body that
is not JSON (400) or not sent as JSON (415), and an amount that is not a positive whole number of fen in range."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.client import TerminalClient
from gateway.config import Settings
from gateway.persistence.tables import Order, ScanSession
from gateway.runtime import Runtime
from tests.support.factories import make_merchant


async def test_a_body_that_is_not_json_is_400_malformed_json(client: httpx.AsyncClient, runtime: Runtime) -> None:
    merchant = await make_merchant(runtime)
    headers = {**merchant.headers, "Content-Type": "application/json"}
    response = await client.put("/v1/webhook", content=b'{"url": "https://shop.example/notify",', headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "malformed_json"
    assert "not valid JSON" in problem["detail"] and "at character" in problem["detail"]
    assert (await client.get("/v1/webhook", headers=merchant.headers)).status_code == 404  # nothing was set


async def test_a_form_body_is_415_with_what_to_send(client: httpx.AsyncClient, runtime: Runtime) -> None:
    merchant = await make_merchant(runtime)
    form = {**merchant.headers, "Content-Type": "application/x-www-form-urlencoded"}
    response = await client.put("/v1/webhook", content=b'{"url": "https://shop.example/notify"}', headers=form)
    assert response.status_code == 415, response.text
    assert response.json()["code"] == "unsupported_media_type"
    assert "application/json" in response.json()["detail"]
    assert (await client.get("/v1/webhook", headers=merchant.headers)).status_code == 404


async def test_json_operations_document_both(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    webhook = spec["paths"]["/v1/webhook"]["put"]["responses"]
    assert {"400", "415"} <= set(webhook)
    assert "application/problem+json" in webhook["415"]["content"]


async def test_a_wrong_method_lists_every_allowed_one(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/webhook")  # the path has GET, PUT and DELETE routes
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, PUT"
    assert response.json()["code"] == "method_not_allowed" and "DELETE, GET, PUT" in response.json()["detail"]


@pytest.fixture
async def demo(settings: Settings) -> AsyncIterator[tuple[TerminalClient, Runtime]]:
    """The dev-mode gateway (channels configured, a demo terminal with a camera) and its terminal, in process."""
    app = create_app(settings.model_copy(update={"dev_mode": True}))
    async with app.router.lifespan_context(app):
        credentials = json.loads((settings.var_dir / "demo-credentials.json").read_text())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as http:
            key_id, secret = credentials["terminal_key_id"], credentials["terminal_secret"]
            yield TerminalClient("http://gateway.test", key_id, secret, http), app.state.runtime


#: Every operation taking an amount, and what else its body needs.
AMOUNT_OPERATIONS = [
    pytest.param("micropay", "/v1/payments/micropay", {"auth_code": "134567890123456789"}, id="micropay"),
    pytest.param("createQrPayment", "/v1/payments/qr", {"channel": "aggregate"}, id="qr"),
    pytest.param("openScanSession", "/v1/payments/scan-sessions", {}, id="scan-session"),
]
BAD_AMOUNTS: list[tuple[object, str]] = [
    (0, "invalid_amount"),
    (-5, "invalid_amount"),
    (12.5, "invalid_amount"),
    (100.0, "invalid_amount"),  # a JSON number with a fraction part is not whole fen, even when it is .0
    ("100", "invalid_amount"),
    (True, "invalid_amount"),
    (None, "invalid_amount"),
    (100_000_001, "amount_too_large"),
    (10**30, "amount_too_large"),
]


@pytest.mark.parametrize(("operation_id", "path", "rest"), AMOUNT_OPERATIONS)
async def test_a_bad_amount_is_the_same_problem_everywhere(
    demo: tuple[TerminalClient, Runtime], operation_id: str, path: str, rest: dict[str, object]
) -> None:
    terminal, runtime = demo
    for number, (amount, code) in enumerate(BAD_AMOUNTS):
        body = {"amount_fen": amount, "out_trade_no": f"AMT{number}", **rest}
        response = await terminal.request("POST", path, body)
        assert response.status_code == 422, (amount, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert (problem["code"], problem["type"], problem["title"]) == (code, f"/problems/{code}", "Invalid input")
        assert "amount_fen" in problem["detail"] and "errors" not in problem, problem
    for table in (Order, ScanSession):
        count = select(func.count()).select_from(table)
        assert await runtime.db.transaction(lambda tx, count=count: tx.connection.scalar(count)) == 0, table

    spec = await terminal.request("GET", "/openapi.json")
    operation = next(
        op for ops in spec.json()["paths"].values() for op in ops.values() if op["operationId"] == operation_id
    )
    examples = operation["responses"]["422"]["content"]["application/problem+json"]["examples"]
    assert {"invalid_amount", "amount_too_large"} <= set(examples)
    schema = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    amount_schema = spec.json()["components"]["schemas"][schema]["properties"]["amount_fen"]
    assert (amount_schema["type"], amount_schema["minimum"]) == ("integer", 1)
    assert amount_schema["maximum"] == runtime.settings.max_amount_fen


async def test_the_spec_shows_the_configured_maximum(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"max_amount_fen": 5000}))
    amounts = [
        schema["properties"]["amount_fen"].get("maximum")
        for schema in app.openapi()["components"]["schemas"].values()
        if "amount_fen" in schema.get("properties", {})
    ]
    # every request body with an amount (micropay, QR, scan session, refunds) has the maximum, answers none
    assert amounts.count(5000) >= 5 and set(amounts) == {5000, None}
