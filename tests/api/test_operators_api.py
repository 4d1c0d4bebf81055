"""Operators: the merchant API (create, list, look up, disable, enable, new password; never a password shown;
another merchant's do not exist), sign-in with its lockout (concurrent wrong passwords count exactly), the
supervisor check, and every kind of payment recording the operator who took it."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from gateway.client import TerminalClient
from gateway.config import Settings
from gateway.domain.errors import Forbidden
from gateway.persistence.tables import Operator, Order, Terminal
from gateway.runtime import Runtime
from tests.support.factories import MerchantFixture, make_merchant
from tests.support.live import live_gateway

CASHIER = {"number": "001", "name": "Li Na", "role": "cashier", "password": "cashier-001"}
SUPERVISOR = {"number": "900", "name": "Wang Wei", "role": "supervisor", "password": "supervisor-900"}


@dataclass(frozen=True)
class Shop:
    merchant: MerchantFixture
    terminal: TerminalClient

    @property
    def headers(self) -> dict[str, str]:
        return self.merchant.headers


async def _shop(runtime: Runtime, client: httpx.AsyncClient, name: str) -> Shop:
    merchant = await make_merchant(runtime, name)
    till = await runtime.merchants.create_terminal(merchant.merchant_id, merchant.store_id, f"{name} till 2")
    return Shop(merchant, TerminalClient(str(client.base_url), till.key_id, till.secret, client))


@pytest.fixture
async def shop(runtime: Runtime, client: httpx.AsyncClient) -> Shop:
    return await _shop(runtime, client, "Shop A")


async def _create(client: httpx.AsyncClient, shop: Shop, **fields: str) -> dict[str, object]:
    response = await client.post("/v1/operators", json={**CASHIER, **fields}, headers=shop.headers)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


async def _operator_row(runtime: Runtime, operator_id: object) -> Operator:
    return await runtime.db.transaction(lambda tx: tx.session.get(Operator, operator_id))


async def test_create_list_and_get_never_show_a_password(client: httpx.AsyncClient, shop: Shop) -> None:
    cashier = await _create(client, shop)
    supervisor = await _create(client, shop, **SUPERVISOR)
    assert cashier["operator_id"] != supervisor["operator_id"]
    assert {key: cashier[key] for key in ("merchant_id", "number", "name", "role", "failed_sign_ins")} == {
        "merchant_id": shop.merchant.merchant_id,
        "number": "001",
        "name": "Li Na",
        "role": "cashier",
        "failed_sign_ins": 0,
    }
    assert (cashier["locked_until"], cashier["disabled_at"], cashier["password_changed_at"]) == (None, None, None)

    listed = await client.get("/v1/operators", headers=shop.headers)
    assert listed.status_code == 200
    assert [item["number"] for item in listed.json()["items"]] == ["001", "900"]
    one = await client.get(f"/v1/operators/{supervisor['operator_id']}", headers=shop.headers)
    assert one.status_code == 200 and one.json() == supervisor
    for response in (listed, one):
        assert all(secret not in response.text for secret in ("cashier-001", "supervisor-900", "scrypt"))
    assert not {"password", "password_hash"} & set(cashier)

    signed_in = await shop.terminal.sign_in("900", "supervisor-900")
    assert signed_in.status_code == 200 and signed_in.json()["id"] == supervisor["operator_id"]


async def test_bad_input(client: httpx.AsyncClient, shop: Shop) -> None:
    await _create(client, shop)

    async def refused(**fields: str) -> tuple[int, str]:
        response = await client.post("/v1/operators", json={**CASHIER, **fields}, headers=shop.headers)
        return response.status_code, response.json()["code"]

    assert await refused() == (409, "operator_exists")
    assert await refused(number="002", password="short") == (422, "weak_password")
    assert await refused(number="002", role="manager") == (422, "validation_error")
    assert await refused(number="0 2") == (422, "validation_error")
    assert await refused(number="002", name="   ") == (422, "validation_error")
    unknown = await client.get("/v1/operators", params={"role": "cashier"}, headers=shop.headers)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_parameter")
    unauthenticated = await client.get("/v1/operators")
    assert (unauthenticated.status_code, unauthenticated.json()["code"]) == (401, "missing_api_key")
    listed = await client.get("/v1/operators", headers=shop.headers)
    assert [item["number"] for item in listed.json()["items"]] == ["001"]  # nothing refused was created


async def test_concurrent_creations_of_one_number_make_one_operator(client: httpx.AsyncClient, shop: Shop) -> None:
    responses = await asyncio.gather(
        *(client.post("/v1/operators", json=CASHIER, headers=shop.headers) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"operator_exists"}


async def test_another_merchants_operators_do_not_exist(
    client: httpx.AsyncClient, runtime: Runtime, shop: Shop
) -> None:
    other = await _shop(runtime, client, "Shop B")
    theirs = await _create(client, other)
    mine = await _create(client, shop)  # the same number: numbers are per merchant
    path = f"/v1/operators/{theirs['operator_id']}"
    for method, suffix, body in (
        ("GET", "", None),
        ("POST", "/disable", None),
        ("POST", "/enable", None),
        ("POST", "/password", {"password": "taken-over"}),
    ):
        response = await client.request(method, path + suffix, json=body, headers=shop.headers)
        assert (response.status_code, response.json()["code"]) == (404, "operator_not_found"), (method, suffix)
    listed = await client.get("/v1/operators", headers=shop.headers)
    assert [item["operator_id"] for item in listed.json()["items"]] == [mine["operator_id"]]
    assert (await _operator_row(runtime, theirs["operator_id"])).disabled_at is None
    # and a terminal signs in only its own merchant's operators
    assert (await shop.terminal.sign_in("001", "cashier-001")).json()["id"] == mine["operator_id"]
    assert (await other.terminal.sign_in("001", "cashier-001")).json()["id"] == theirs["operator_id"]


async def test_a_disabled_operator_is_signed_out_and_cannot_sign_in(
    client: httpx.AsyncClient, runtime: Runtime, shop: Shop
) -> None:
    cashier = await _create(client, shop)
    assert (await shop.terminal.sign_in("001", "cashier-001")).status_code == 200
    disabled = await client.post(f"/v1/operators/{cashier['operator_id']}/disable", headers=shop.headers)
    assert disabled.status_code == 200 and disabled.json()["disabled_at"] is not None
    signed_in = select(Terminal.operator_id).where(Terminal.merchant_id == shop.merchant.merchant_id)
    assert await runtime.db.transaction(lambda tx: set(tx.session.scalars(signed_in))) == {None}

    refused = await shop.terminal.sign_in("001", "cashier-001")
    assert (refused.status_code, refused.json()["code"]) == (403, "operator_disabled")
    wrong = await shop.terminal.sign_in("001", "not-the-password")
    assert wrong.json()["code"] == "operator_sign_in_failed"  # disabled is told only to the right password

    enabled = await client.post(f"/v1/operators/{cashier['operator_id']}/enable", headers=shop.headers)
    assert enabled.status_code == 200 and enabled.json()["disabled_at"] is None
    assert (await shop.terminal.sign_in("001", "cashier-001")).status_code == 200


async def _wrong(shop: Shop, times: int) -> list[str]:
    return [(await shop.terminal.sign_in("001", "not-the-password")).json()["code"] for _ in range(times)]


async def test_five_wrong_passwords_lock_even_the_right_one_until_a_reset(
    client: httpx.AsyncClient, runtime: Runtime, shop: Shop
) -> None:
    cashier = await _create(client, shop)
    path = f"/v1/operators/{cashier['operator_id']}"
    assert await _wrong(shop, 4) == ["operator_sign_in_failed"] * 4
    assert (await client.get(path, headers=shop.headers)).json()["failed_sign_ins"] == 4
    before = datetime.now(UTC)
    fifth = await shop.terminal.sign_in("001", "not-the-password")
    assert (fifth.status_code, fifth.json()["code"]) == (403, "operator_locked")

    shown = (await client.get(path, headers=shop.headers)).json()
    locked_until = datetime.fromisoformat(shown["locked_until"])
    assert shown["failed_sign_ins"] == 5
    assert before + timedelta(seconds=900) <= locked_until <= datetime.now(UTC) + timedelta(seconds=900)
    right = await shop.terminal.sign_in("001", "cashier-001")
    assert (right.status_code, right.json()["code"]) == (403, "operator_locked")
    until = locked_until.isoformat(timespec="seconds").replace("+00:00", "Z")
    assert right.json()["detail"] == (
        f"operator 001 is locked until {until} after 5 wrong passwords in a row; a new password unlocks it"
    )
    assert await _wrong(shop, 3) == ["operator_locked"] * 3
    assert (await _operator_row(runtime, cashier["operator_id"])).failed_sign_ins == 5  # not counted while locked

    reset = await client.post(f"{path}/password", json={"password": "new-secret-001"}, headers=shop.headers)
    assert reset.status_code == 200 and "new-secret" not in reset.text
    assert (reset.json()["failed_sign_ins"], reset.json()["locked_until"]) == (0, None)
    assert reset.json()["password_changed_at"] is not None
    old = await shop.terminal.sign_in("001", "cashier-001")
    assert old.json()["code"] == "operator_sign_in_failed"
    assert (await shop.terminal.sign_in("001", "new-secret-001")).status_code == 200
    weak = await client.post(f"{path}/password", json={"password": "123"}, headers=shop.headers)
    assert (weak.status_code, weak.json()["code"]) == (422, "weak_password")


async def test_the_right_password_resets_the_count_and_an_ended_lock_starts_a_new_one(
    client: httpx.AsyncClient, runtime: Runtime, shop: Shop
) -> None:
    cashier = await _create(client, shop)
    assert await _wrong(shop, 4) == ["operator_sign_in_failed"] * 4
    assert (await shop.terminal.sign_in("001", "cashier-001")).status_code == 200
    assert await _wrong(shop, 4) == ["operator_sign_in_failed"] * 4  # four again: not locked
    assert (await _operator_row(runtime, cashier["operator_id"])).failed_sign_ins == 4
    assert await _wrong(shop, 1) == ["operator_locked"]

    ended = (
        update(Operator)
        .where(Operator.id == cashier["operator_id"])
        .values(locked_until=datetime.now(UTC) - timedelta(seconds=1))
    )
    await runtime.db.transaction(lambda tx: tx.connection.execute(ended))
    assert await _wrong(shop, 1) == ["operator_sign_in_failed"]  # the lock is over: a new count starts
    row = await _operator_row(runtime, cashier["operator_id"])
    assert (row.failed_sign_ins, row.locked_until) == (1, None)
    assert (await shop.terminal.sign_in("001", "cashier-001")).status_code == 200


async def test_concurrent_wrong_passwords_lock_after_exactly_five(
    client: httpx.AsyncClient, runtime: Runtime, shop: Shop
) -> None:
    cashier = await _create(client, shop)
    attempts = [shop.terminal.sign_in("001", f"wrong-{n}") for n in range(20)]
    answers = await asyncio.gather(*attempts)
    assert {r.status_code for r in answers} == {403}
    # four are told the password is wrong, the fifth and every later one that the operator is locked
    assert Counter(r.json()["code"] for r in answers) == {"operator_sign_in_failed": 4, "operator_locked": 16}
    row = await _operator_row(runtime, cashier["operator_id"])
    assert row.failed_sign_ins == 5 and row.locked_until is not None
    right = await shop.terminal.sign_in("001", "cashier-001")
    assert right.json()["code"] == "operator_locked"


async def test_concurrent_right_and_wrong_passwords_never_count_past_the_lock(
    client: httpx.AsyncClient, runtime: Runtime, shop: Shop
) -> None:
    """Wrong passwords at sign-in and at supervisor checks share the count; right ones reset it as they land."""
    supervisor = await _create(client, shop, **SUPERVISOR)
    merchant_id = shop.merchant.merchant_id

    async def supervisor_check(password: str) -> str:
        try:
            await runtime.operators.verify_supervisor(merchant_id, "900", password)
        except Forbidden as refused:
            return refused.code
        return "approved"

    for _ in range(5):
        attempts = [shop.terminal.sign_in("900", "wrong-password") for _ in range(6)]
        answers = await asyncio.gather(*attempts, supervisor_check("wrong"), supervisor_check("supervisor-900"))
        codes = [r.json()["code"] for r in answers[:6]] + list(answers[6:])
        row = await _operator_row(runtime, supervisor["operator_id"])
        assert 0 <= row.failed_sign_ins <= 5
        assert (row.locked_until is not None) == (row.failed_sign_ins == 5) == ("operator_locked" in codes)
        if row.locked_until is not None:
            break
    else:
        pytest.fail("seven wrong passwords against one right one never locked the operator")


async def test_verify_supervisor(client: httpx.AsyncClient, runtime: Runtime, shop: Shop) -> None:
    supervisor = await _create(client, shop, **SUPERVISOR)
    await _create(client, shop)
    merchant_id = shop.merchant.merchant_id
    approved = await runtime.operators.verify_supervisor(merchant_id, "900", "supervisor-900")
    assert (approved.id, approved.role) == (supervisor["operator_id"], "supervisor")

    async def refusal(number: str, password: str, merchant: str = merchant_id) -> str:
        with pytest.raises(Forbidden) as refused:
            await runtime.operators.verify_supervisor(merchant, number, password)
        return refused.value.code

    assert await refusal("001", "cashier-001") == "supervisor_required"
    assert await refusal("900", "cashier-001") == "operator_sign_in_failed"
    assert await refusal("777", "supervisor-900") == "operator_sign_in_failed"
    other = await _shop(runtime, client, "Shop B")
    assert await refusal("900", "supervisor-900", other.merchant.merchant_id) == "operator_sign_in_failed"
    for _ in range(3):
        await refusal("900", "wrong-password")
    assert await _wrong_as("900", shop) == "operator_locked"  # 1 + 3 + 1: the fifth, at sign-in
    assert await refusal("900", "supervisor-900") == "operator_locked"
    await client.post(f"/v1/operators/{supervisor['operator_id']}/disable", headers=shop.headers)
    await client.post(
        f"/v1/operators/{supervisor['operator_id']}/password", json={"password": "supervisor-901"}, headers=shop.headers
    )
    assert await refusal("900", "supervisor-901") == "operator_disabled"


async def _wrong_as(number: str, shop: Shop) -> str:
    code: str = (await shop.terminal.sign_in(number, "not-the-password")).json()["code"]
    return code


async def test_every_kind_of_payment_records_its_operator(settings: Settings) -> None:
    """Micropay and QR payments carry who is signed in; a scan session's payment, who opened the session
    (even when somebody else signed in before the camera read the code)."""
    async with live_gateway(settings) as live:
        cashier = (await live.terminal.sign_in("001", "cashier-001")).json()["id"]
        code = await live.payment_code("wechat")
        micropay = await live.terminal.micropay(100, "op1", code)
        qr = await live.terminal.request(
            "POST", "/v1/payments/qr", {"amount_fen": 200, "channel": "alipay", "out_trade_no": "op2"}
        )
        scan = await live.terminal.request("POST", "/v1/payments/scan-sessions", {"amount_fen": 300})
        assert (micropay.status_code, qr.status_code, scan.status_code) == (200, 201, 201), (qr.text, scan.text)
        supervisor = (await live.terminal.sign_in("900", "supervisor-900")).json()["id"]
        charged = await live.http.post(
            f"{live.url}/v1/cameras/{live.credentials['camera_id']}/codes",
            json={"code": await live.payment_code("unionpay")},
            headers={"Authorization": f"Bearer {live.credentials['camera_key']}"},
        )
        assert charged.status_code == 200, charged.text
        scan_order = charged.json()["payment"]["order_id"]
        operators = select(Order.id, Order.operator_id)
        recorded = dict(await live.runtime.db.transaction(lambda tx: tx.connection.execute(operators).all()))
        assert recorded == {
            micropay.json()["order_id"]: cashier,
            qr.json()["order_id"]: cashier,
            scan_order: cashier,
        }
        assert supervisor != cashier
