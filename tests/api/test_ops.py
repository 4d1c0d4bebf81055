"""Operations endpoints and the HTTP middleware: health, readiness, metrics, request ids, body limit."""

from __future__ import annotations

import httpx
import pytest

from gateway.app import MAX_BODY_BYTES
from gateway.persistence.database import Database
from gateway.runtime import Runtime


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok"}


async def test_readiness_fails_when_the_database_is_gone(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real database goes back before the app shuts down, so it is disposed: a database left open
    # finishes its SQLite thread after the event loop has closed, in some later test.
    unreachable = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    monkeypatch.setattr(runtime.readiness, "_db", unreachable)
    try:
        response = await client.get("/readyz")
    finally:
        await unreachable.dispose()
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/v1/orders/ord_whatever")
    text = (await client.get("/metrics")).text
    assert 'gateway_http_requests_total{method="GET",route="/v1/orders/{order_id}",status="401"}' in text
    assert "ord_whatever" not in text


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz", headers={"X-Request-ID": "abc123"})).headers["x-request-id"] == "abc123"
    assert len((await client.get("/healthz")).headers["x-request-id"]) == 16


async def test_oversized_bodies_are_refused_before_routing(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/orders", content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


async def test_unknown_paths_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/nothing")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"
    wrong_method = await client.delete("/healthz")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"
