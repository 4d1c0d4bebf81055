"""The committed OpenAPI spec matches the app, and says what the server does: every error it documents has its
own example, the problems the server answers with are documented, and Swagger has what a newcomer needs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.api.problems import PROBLEMS
from gateway.api.qr import NOTIFY_ANSWERS
from gateway.app import DESCRIPTION, SIGNING_SECTION, create_app
from gateway.config import Settings
from gateway.openapi_export import render_openapi
from gateway.runtime import Runtime

ROOT = Path(__file__).parent.parent
SPEC_PATH = ROOT / "openapi" / "openapi.json"
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    rendered: dict[str, Any] = json.loads(render_openapi())
    return rendered


def test_committed_spec_is_current() -> None:
    assert SPEC_PATH.read_text() == render_openapi(), "the API changed: run `gateway openapi` and commit the result"


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def _by_id(spec: dict[str, Any], operation_id: str) -> dict[str, Any]:
    return next(op for _, _, op in _operations(spec) if op["operationId"] == operation_id)


def _documented_codes(operation: dict[str, Any], status: int | str) -> set[str]:
    response = operation["responses"].get(str(status), {})
    return set(response.get("content", {}).get(PROBLEM, {}).get("examples", {}))


def test_every_operation_has_a_stable_id_a_tag_a_summary_and_a_description(spec: dict[str, Any]) -> None:
    operations = [op for _, _, op in _operations(spec)]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    assert all("_" not in op_id for op_id in ids), "operationIds are camelCase names, not generated ones"
    assert all(op.get("tags") and op.get("summary") for op in operations)
    assert [op["operationId"] for op in operations if len(op.get("description", "")) < 40] == []


def test_every_error_response_has_an_example_of_each_of_its_codes(spec: dict[str, Any]) -> None:
    seen: set[str] = set()
    for path, method, operation in _operations(spec):
        for status, response in operation["responses"].items():
            notify = ("channelNotification", "channelRefundNotification")
            if status[0] not in "45" or (operation["operationId"] in notify and status == "400"):
                continue  # UnionPay's refusal is its own text/plain answer, not a problem (see the next test)
            where = f"{method.upper()} {path} {status}"
            content = response["content"]
            assert list(content) == [PROBLEM], where
            assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}, where
            examples = content[PROBLEM]["examples"]
            assert examples, where
            for code, example in examples.items():
                assert example == {"$ref": f"#/components/examples/{code}"}, where  # each example once
                body = spec["components"]["examples"][code]["value"]
                assert (body["status"], body["code"], body["type"]) == (int(status), code, f"/problems/{code}"), where
                assert body["title"] and body["detail"], where
                assert (PROBLEMS[code].status if code in PROBLEMS else 413) == int(status), where
                assert f"`{code}`" in response["description"], where
            seen |= set(examples)
    assert seen == set(PROBLEMS) | {"body_too_large"}, "every problem is documented somewhere, and only those"
    assert _documented_codes(_by_id(spec, "getOrder"), 404) == {"order_not_found"}
    assert _documented_codes(_by_id(spec, "getPayment"), 404) == {"payment_not_found"}
    assert _documented_codes(_by_id(spec, "getWebhookEndpoint"), 404) == {"webhook_not_set"}
    assert _documented_codes(_by_id(spec, "micropay"), 503) == {"busy"}
    assert {"invalid_amount", "amount_too_large", "malformed_payment_code"} <= _documented_codes(
        _by_id(spec, "micropay"), 422
    )


def test_each_channel_notification_answer_is_documented_as_its_adapter_makes_it(spec: dict[str, Any]) -> None:
    responses = _by_id(spec, "channelNotification")["responses"]
    for channel, answers in NOTIFY_ANSWERS.items():
        for taken, (status, media_type, body) in answers.items():
            example = responses[str(status)]["content"][media_type]["examples"][
                f"{channel}_{'taken' if taken else 'refused'}"
            ]
            assert example["value"] == body
    assert _documented_codes(_by_id(spec, "channelNotification"), 404) == {"channel_not_found"}


async def test_the_documented_answers_are_the_adapters_answers(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"dev_mode": True}))
    async with app.router.lifespan_context(app):
        runtime: Runtime = app.state.runtime
        assert set(runtime.adapters) == set(NOTIFY_ANSWERS)
        for channel, answers in NOTIFY_ANSWERS.items():
            for taken, (status, media_type, body) in answers.items():
                ack = runtime.adapters[channel].notification_ack(taken)
                assert (ack.status_code, ack.media_type, ack.body.decode()) == (status, media_type, body), channel


def _concrete(path: str) -> str:
    return re.sub(r"\{channel\}", "wechat", re.sub(r"\{(?!channel\})[a-z_]+\}", "x1", path))


async def _answers(client: httpx.AsyncClient, spec: dict[str, Any], **request: Any) -> list[tuple[str, int, str]]:
    """(operation, status, problem code) of each operation called with no credentials and `request`."""
    found = []
    for path, method, operation in _operations(spec):
        response = await client.request(method.upper(), _concrete(path), **request)
        code = response.json().get("code", "") if response.headers["content-type"] == PROBLEM else ""
        found.append((operation["operationId"], response.status_code, code))
    return found


async def test_the_problems_the_server_answers_with_are_the_documented_ones(
    client: httpx.AsyncClient, spec: dict[str, Any]
) -> None:
    """Every operation called without credentials, with a body that is not JSON, with a form: each problem it
    answers is documented for it under its status."""
    json_operations = {
        op["operationId"]
        for _, _, op in _operations(spec)
        if "application/json" in op.get("requestBody", {}).get("content", {})
    }
    for request in (
        {},
        {"content": b'{"amount_fen": 1', "headers": {"Content-Type": "application/json"}},
        {"content": b"amount_fen=1", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
    ):
        for operation_id, status, code in await _answers(client, spec, **request):
            if not code:
                assert status < 400, (operation_id, status)
                continue
            assert code in _documented_codes(_by_id(spec, operation_id), status), (operation_id, status, code)
            if request.get("content", b"").startswith(b"{") and operation_id in json_operations:
                assert code == "malformed_json", operation_id  # read before anything else, credentials included
    problems = {code for _, _, code in await _answers(client, spec)}
    assert {"missing_api_key", "missing_signature", "validation_error", "channel_not_found"} <= problems


def test_202_examples_are_still_paying(spec: dict[str, Any]) -> None:
    for operation_id in ("micropay", "getPayment"):
        example = _by_id(spec, operation_id)["responses"]["202"]["content"]["application/json"]["example"]
        assert example["status"] == "PAYING" and "paid_at" not in example  # FastAPI leaves out null values
    camera = _by_id(spec, "submitCameraCode")["responses"]["202"]["content"]["application/json"]["example"]
    assert camera["payment"]["status"] == "PAYING"


#: The merchant API's tags, in the order Swagger shows them, before every terminal and channel operation.
MERCHANT_TAGS = ("Orders", "Webhooks", "Operators", "Fees", "Reports", "Reconciliation")


def test_the_merchants_operations_come_first(spec: dict[str, Any]) -> None:
    tags = [tag["name"] for tag in spec["tags"]]
    assert tags[: len(MERCHANT_TAGS)] == list(MERCHANT_TAGS)
    assert {tag for _, _, op in _operations(spec) for tag in op["tags"]} <= set(tags)
    merchant = [op["tags"][0] in MERCHANT_TAGS for _, _, op in _operations(spec)]
    assert merchant == sorted(merchant, reverse=True), "the merchant's paths are listed first too"


def test_limits_are_in_the_schema(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    for name in ("MicropayIn", "QrPaymentIn", "ScanSessionIn"):
        amount = schemas[name]["properties"]["amount_fen"]
        assert (amount["type"], amount["minimum"], amount["maximum"]) == ("integer", 1, 100_000_000), name
    assert schemas["WebhookEndpointIn"]["properties"]["url"]["maxLength"] == 512
    for operation_id in ("micropay", "createQrPayment"):
        header = next(p for p in _by_id(spec, operation_id)["parameters"] if p["name"] == "idempotency-key")
        assert (header["schema"]["minLength"], header["schema"]["maxLength"]) == (1, 64)
    cursor = next(p for p in _by_id(spec, "listOrders")["parameters"] if p["name"] == "cursor")
    assert cursor["schema"]["anyOf"][0]["maxLength"] == 200


def _github_anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_swagger_explains_terminal_signing_and_links_to_the_readme(spec: dict[str, Any]) -> None:
    description = spec["info"]["description"]
    assert description == DESCRIPTION
    for part in ("X-Terminal-Key", "X-Timestamp", "X-Nonce", "X-Signature", "HMAC-SHA256", "SHA-256", "query"):
        assert part in description, part
    assert f"]({SIGNING_SECTION})" in description
    readme, anchor = SIGNING_SECTION.split("#")
    headings = re.findall(r"^#+ (.+)$", (ROOT / readme).read_text(), flags=re.MULTILINE)
    assert anchor in {_github_anchor(heading) for heading in headings}, "the README section Swagger links to"


def test_every_model_has_an_example(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    ours = {name: schema for name, schema in schemas.items() if schema.get("type") == "object"}
    assert "OrderOut" in ours
    assert "HTTPValidationError" not in schemas, "validation errors are documented as problems"
    assert [name for name, schema in ours.items() if not schema.get("examples")] == []


def test_the_api_key_is_a_security_scheme_on_merchant_routes(spec: dict[str, Any]) -> None:
    assert spec["components"]["securitySchemes"]["MerchantApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The merchant API key, `mk_<prefix>_<secret>`, shown once when the merchant is created.",
    }
    assert spec["paths"]["/v1/orders"]["get"]["security"] == [{"MerchantApiKey": []}]
    errors = spec["paths"]["/v1/orders/{order_id}"]["get"]["responses"]
    assert PROBLEM in errors["404"]["content"]
