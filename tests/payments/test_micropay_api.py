"""The micropay API's guarantees: one charge per code and per key, signatures, limits and clear refusals."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import fastapi.dependencies.utils
import httpx
import pytest

from adapters.simcore.faults import Fault
from gateway.client import signed_headers
from gateway.config import Settings
from tests.support.live import LiveGateway, live_gateway
from tests.support.simcontrol import eventually


def out_trade_no() -> str:
    return "T" + secrets.token_hex(8)


def charges(live: LiveGateway, channel: str) -> int:
    return sum(1 for entry in live.runtime.simulators[channel].bank.ledger if entry.kind == "charge")


def channel_calls(live: LiveGateway) -> int:
    return sum(len(sim.bank.orders) for sim in live.runtime.simulators.values())


async def order_count(live: LiveGateway) -> int:
    response = await live.http.get(
        f"{live.url}/v1/orders", params={"limit": 100}, headers={"X-API-Key": live.credentials["api_key"]}
    )
    return len(response.json()["items"])


async def test_fifty_identical_requests_charge_once(live: LiveGateway) -> None:
    code = await live.payment_code("wechat")
    number = out_trade_no()
    responses = await asyncio.gather(
        *(live.terminal.micropay(500, number, code, idempotency_key="same-key") for _ in range(50))
    )
    statuses = sorted({r.status_code for r in responses})
    assert set(statuses) <= {200, 409}, statuses
    paid = [r.json() for r in responses if r.status_code == 200]
    assert paid and {p["order_id"] for p in paid} == {paid[0]["order_id"]}
    assert all(p["status"] == "PAID" for p in paid)
    assert {r.json()["code"] for r in responses if r.status_code == 409} <= {"request_in_flight"}
    assert charges(live, "wechat") == 1
    assert await order_count(live) == 1
    replay = await live.terminal.micropay(500, number, code, idempotency_key="same-key")
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == paid[0]


async def test_a_payment_solves_its_dependencies_without_thread_hops(
    live: LiveGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastAPI sends a plain `def` dependency to its thread pool; on the hot path that hop is pure cost."""
    hopped: list[str] = []
    original = fastapi.dependencies.utils.run_in_threadpool

    async def recording(func: Any, *args: Any, **kwargs: Any) -> Any:
        hopped.append(f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', func)}")
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(fastapi.dependencies.utils, "run_in_threadpool", recording)
    response = await live.terminal.micropay(500, out_trade_no(), await live.payment_code("wechat"))
    assert response.status_code == 200
    assert [name for name in hopped if name.startswith("gateway.")] == []


async def test_fifty_keys_one_code_charge_once(live: LiveGateway) -> None:
    code = await live.payment_code("alipay")
    responses = await asyncio.gather(
        *(live.terminal.micropay(500, out_trade_no(), code, idempotency_key=f"key-{i}") for i in range(50))
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 49
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"payment_code_used"}
    # On a loaded machine the channel's answer can miss the HTTP timeout: the order is then PAYING and the
    # charge lands a moment later. Either way there is exactly one.
    await eventually(lambda: charges(live, "alipay") >= 1, attempts=2000)
    assert charges(live, "alipay") == 1, next(r.json() for r in responses if r.status_code == 200)
    assert await order_count(live) == 1


async def test_same_key_different_body_is_refused(live: LiveGateway) -> None:
    code = await live.payment_code("unionpay")
    first = await live.terminal.micropay(500, out_trade_no(), code, idempotency_key="k1")
    assert first.status_code == 200
    second = await live.terminal.micropay(501, out_trade_no(), code, idempotency_key="k1")
    assert second.status_code == 422
    assert second.json()["code"] == "idempotency_key_reused"


async def test_out_trade_no_retry_without_key_replays_and_reuse_is_refused(live: LiveGateway) -> None:
    code = await live.payment_code("wechat")
    number = out_trade_no()
    first = await live.terminal.micropay(700, number, code)
    again = await live.terminal.micropay(700, number, code)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = await live.terminal.micropay(700, number, await live.payment_code("wechat"), idempotency_key="new")
    assert other.status_code == 409 and other.json()["code"] == "duplicate_out_trade_no"
    assert charges(live, "wechat") == 1


async def test_out_trade_no_reused_without_key_for_another_payment_is_a_duplicate(live: LiveGateway) -> None:
    number = out_trade_no()
    first = await live.terminal.micropay(700, number, await live.payment_code("wechat"))
    assert first.status_code == 200
    other = await live.terminal.micropay(700, number, await live.payment_code("wechat"))
    assert other.status_code == 409 and other.json()["code"] == "duplicate_out_trade_no"
    assert "out_trade_no" in other.json()["detail"]
    assert charges(live, "wechat") == 1


async def test_a_paying_answer_is_replayed_as_the_news(live: LiveGateway) -> None:
    live.runtime.settings.micropay_wait_s = 0
    code = await live.payment_code("wechat", Fault.PASSWORD_THEN_SUCCESS)
    number = out_trade_no()
    first = await live.terminal.micropay(900, number, code)
    assert first.status_code == 202 and first.json()["status"] == "PAYING"
    for _ in range(200):
        retry = await live.terminal.micropay(900, number, code)
        if retry.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert retry.json()["status"] == "PAID"
    assert retry.json()["order_id"] == first.json()["order_id"]


BAD_BODIES = [
    ({"amount_fen": 0}, "invalid_amount"),
    ({"amount_fen": -5}, "invalid_amount"),
    ({"amount_fen": 12.5}, "invalid_amount"),
    ({"amount_fen": "100"}, "invalid_amount"),
    ({"amount_fen": 100_000_001}, "amount_too_large"),
    ({"out_trade_no": "A" * 33}, "validation_error"),
    ({"out_trade_no": "no-dashes"}, "validation_error"),
    ({"auth_code": "12345"}, "malformed_payment_code"),
    ({"auth_code": "https://example.com/x"}, "malformed_payment_code"),
    ({"auth_code": "13" + "\u0664" * 16}, "malformed_payment_code"),  # Arabic-Indic digits
    ({"auth_code": "\uff11\uff13" + "\uff10" * 16}, "malformed_payment_code"),  # fullwidth digits
    ({"auth_code": "0112345678901234567"}, "unsupported_payment_code"),  # e-CNY
    ({"auth_code": "9912345678901234567"}, "unsupported_payment_code"),
    ({"tip_fen": 5}, "validation_error"),  # unknown field
]


@pytest.mark.parametrize(("change", "code"), BAD_BODIES)
async def test_bad_bodies_change_nothing(live: LiveGateway, change: dict[str, object], code: str) -> None:
    body = {"amount_fen": 100, "out_trade_no": out_trade_no(), "auth_code": "134567890123456789", **change}
    response = await live.terminal.request("POST", "/v1/payments/micropay", body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert channel_calls(live) == 0
    assert await order_count(live) == 0


async def _raw_post(live: LiveGateway, headers: dict[str, str], body: bytes) -> httpx.Response:
    return await live.http.post(
        f"{live.url}/v1/payments/micropay", content=body, headers={**headers, "Content-Type": "application/json"}
    )


def _body() -> bytes:
    return json.dumps({"amount_fen": 100, "out_trade_no": out_trade_no(), "auth_code": "134567890123456789"}).encode()


def _signed(live: LiveGateway, body: bytes, **override: str) -> dict[str, str]:
    headers = signed_headers(
        live.credentials["terminal_key_id"], live.credentials["terminal_secret"], "POST", "/v1/payments/micropay", body
    )
    return {**headers, **override}


async def test_signature_refusals(live: LiveGateway) -> None:
    body = _body()
    cases = {
        "invalid_signature": _signed(live, body, **{"X-Signature": "0" * 64}),
        "unknown_terminal_key": _signed(live, body, **{"X-Terminal-Key": "tk_nobody"}),
        "stale_timestamp": _signed(live, body, **{"X-Timestamp": str(int(time.time()) - 301)}),
        "invalid_timestamp": _signed(live, body, **{"X-Timestamp": "yesterday"}),
        "invalid_nonce": _signed(live, body, **{"X-Nonce": "short"}),
    }
    for expected, headers in cases.items():
        response = await _raw_post(live, headers, body)
        assert response.status_code == 401, expected
        assert response.json()["code"] == expected
    tampered = await _raw_post(live, _signed(live, body), body.replace(b"100", b"999"))
    assert tampered.json()["code"] == "invalid_signature"
    missing = await _raw_post(live, {}, body)  # issue 13: an unsigned request is an auth failure, not bad input
    assert missing.status_code == 401 and missing.json()["code"] == "missing_signature"
    no_nonce = {name: value for name, value in _signed(live, body).items() if name != "X-Nonce"}
    partly = await _raw_post(live, no_nonce, body)
    assert partly.status_code == 401 and "X-Nonce" in partly.json()["detail"]
    assert channel_calls(live) == 0


async def test_a_nonce_is_accepted_once(live: LiveGateway) -> None:
    code = await live.payment_code("wechat")
    body = json.dumps({"amount_fen": 100, "out_trade_no": out_trade_no(), "auth_code": code}).encode()
    headers = _signed(live, body)
    assert (await _raw_post(live, headers, body)).status_code == 200
    replay = await _raw_post(live, headers, body)
    assert replay.status_code == 401 and replay.json()["code"] == "replayed_nonce"
    assert charges(live, "wechat") == 1


async def test_concurrent_payments_never_pass_the_daily_limit(live: LiveGateway) -> None:
    from sqlalchemy import update

    from gateway.persistence.tables import Terminal

    limit = update(Terminal).where(Terminal.id == live.credentials["terminal_id"]).values(daily_limit_fen=500)
    await live.runtime.db.transaction(lambda tx: tx.connection.execute(limit))
    codes = [await live.payment_code("wechat") for _ in range(10)]
    responses = await asyncio.gather(*(live.terminal.micropay(100, out_trade_no(), code) for code in codes))
    assert sorted(response.status_code for response in responses) == [200] * 5 + [422] * 5
    refused = [response.json()["code"] for response in responses if response.status_code == 422]
    assert refused == ["over_daily_limit"] * 5
    assert charges(live, "wechat") == 5


async def test_past_the_in_flight_bound_a_payment_is_refused_at_once_and_nothing_is_written(
    settings: Settings,
) -> None:
    async with live_gateway(settings, micropay_max_in_flight=1) as live:
        hanging_code = await live.payment_code("wechat", Fault.HTTP_TIMEOUT)  # the channel answers too late
        first = asyncio.create_task(live.terminal.micropay(100, out_trade_no(), hanging_code))
        await eventually(lambda: live.runtime.micropay_admission.in_flight == 1)
        number, code = out_trade_no(), await live.payment_code("wechat")
        busy = await live.terminal.micropay(100, number, code)
        assert busy.status_code == 503, busy.text
        assert busy.json()["code"] == "busy" and busy.headers["retry-after"] == "1"
        assert busy.headers["content-type"] == "application/problem+json"
        assert (await first).status_code in (200, 202)
        assert live.runtime.micropay_admission.in_flight == 0
        retry = await live.terminal.micropay(100, number, code)  # same number and code: nothing was kept
        assert retry.status_code == 200 and retry.json()["status"] == "PAID", retry.text
        assert charges(live, "wechat") == 2


async def test_terminal_limits_and_operator_rule(live: LiveGateway) -> None:
    from sqlalchemy import update

    from gateway.persistence.tables import Merchant, Terminal

    limits = (
        update(Terminal)
        .where(Terminal.id == live.credentials["terminal_id"])
        .values(single_limit_fen=1000, daily_limit_fen=1500)
    )
    await live.runtime.db.transaction(lambda tx: tx.connection.execute(limits))
    over = await live.terminal.micropay(1001, out_trade_no(), await live.payment_code("wechat"))
    assert over.status_code == 422 and over.json()["code"] == "over_single_limit"
    assert (await live.terminal.micropay(1000, out_trade_no(), await live.payment_code("wechat"))).status_code == 200
    daily = await live.terminal.micropay(600, out_trade_no(), await live.payment_code("wechat"))
    assert daily.status_code == 422 and daily.json()["code"] == "over_daily_limit"

    await live.runtime.db.transaction(lambda tx: tx.connection.execute(update(Merchant).values(require_operator=True)))
    needs_operator = await live.terminal.micropay(100, out_trade_no(), await live.payment_code("wechat"))
    assert needs_operator.status_code == 403 and needs_operator.json()["code"] == "operator_required"
    wrong = await live.terminal.sign_in("001", "wrong-password")
    assert wrong.status_code == 403 and wrong.json()["code"] == "operator_sign_in_failed"
    signed_in = await live.terminal.sign_in("001", "cashier-001")
    assert signed_in.status_code == 200 and signed_in.json()["role"] == "cashier"
    paid = await live.terminal.micropay(100, out_trade_no(), await live.payment_code("wechat"))
    assert paid.status_code == 200
    order = await live.http.get(
        f"{live.url}/v1/orders/{paid.json()['order_id']}", headers={"X-API-Key": live.credentials["api_key"]}
    )
    assert order.json()["operator_id"] == signed_in.json()["id"]
    assert (await live.terminal.sign_out()).status_code == 204
    again = await live.terminal.micropay(100, out_trade_no(), await live.payment_code("wechat"))
    assert again.status_code == 403
    assert charges(live, "wechat") == 2


async def test_a_terminal_sees_only_its_own_payments(live: LiveGateway) -> None:
    from gateway.client import TerminalClient

    other = await live.runtime.merchants.create_terminal(
        live.credentials["merchant_id"], live.credentials["store_id"], "Other till"
    )
    paid = await live.terminal.micropay(100, out_trade_no(), await live.payment_code("wechat"))
    other_client = TerminalClient(live.url, other.key_id, other.secret, live.http)
    assert (await other_client.get_payment(paid.json()["order_id"])).status_code == 404
    assert (await live.terminal.get_payment(paid.json()["order_id"])).status_code == 200


async def test_the_signature_covers_the_path_as_sent(live: LiveGateway) -> None:
    """Issue 13: a signature over /v1/payments/X must not open /v1/payments/X%0A (the decoded path differs)."""
    order_path = "/v1/payments/ord_nothing"
    for sent in (order_path + "%0A", order_path + "%09", order_path + "%0D"):
        headers = signed_headers(
            live.credentials["terminal_key_id"], live.credentials["terminal_secret"], "GET", order_path, b""
        )
        response = await live.http.get(f"{live.url}{sent}", headers=headers)
        assert response.status_code == 401, (sent, response.text)
        assert response.json()["code"] in ("invalid_signature", "invalid_path"), sent
    control = await live.terminal.request("GET", order_path + "%0A")  # signed as sent, but a control character
    assert control.status_code == 401 and control.json()["code"] == "invalid_path"
    fine = await live.terminal.request("GET", order_path)
    assert fine.status_code == 404 and fine.json()["code"] == "payment_not_found"
