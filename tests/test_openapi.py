"""The committed OpenAPI spec matches the app, and Swagger has what a merchant needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gateway.openapi_export import render_openapi

SPEC_PATH = Path(__file__).parent.parent / "openapi" / "openapi.json"


def test_committed_spec_is_current() -> None:
    assert SPEC_PATH.read_text() == render_openapi(), "the API changed: run `gateway openapi` and commit the result"


def _operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for path in spec["paths"].values() for op in path.values()]


def test_every_operation_has_a_stable_id_a_tag_and_a_summary() -> None:
    operations = _operations(json.loads(render_openapi()))
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    assert all("_" not in op_id for op_id in ids), "operationIds are camelCase names, not generated ones"
    assert all(op.get("tags") and op.get("summary") for op in operations)


def test_every_model_has_an_example() -> None:
    schemas = json.loads(render_openapi())["components"]["schemas"]
    ours = {name: schema for name, schema in schemas.items() if schema.get("type") == "object"}
    assert "OrderOut" in ours
    assert "HTTPValidationError" not in schemas, "validation errors are documented as problems"
    assert [name for name, schema in ours.items() if not schema.get("examples")] == []


def test_the_api_key_is_a_security_scheme_on_merchant_routes() -> None:
    spec = json.loads(render_openapi())
    assert spec["components"]["securitySchemes"]["MerchantApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The merchant API key, `mk_<prefix>_<secret>`, shown once when the merchant is created.",
    }
    assert spec["paths"]["/v1/orders"]["get"]["security"] == [{"MerchantApiKey": []}]
    errors = spec["paths"]["/v1/orders/{order_id}"]["get"]["responses"]
    assert "application/problem+json" in errors["404"]["content"]
