"""A body that is not JSON, or not sent as JSON, gets its own problem (400, 415), changes nothing, and is documented."""

from __future__ import annotations

import httpx

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
