"""The merchant order API: filters, cursor pagination, isolation between merchants, and bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gateway.api.payment_schemas import PaymentOut
from gateway.domain.orders import OrderStatus
from gateway.runtime import Runtime
from tests.support.factories import MerchantFixture, insert_order, make_merchant

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
async def shop(runtime: Runtime) -> MerchantFixture:
    return await make_merchant(runtime, "Shop A")


@pytest.fixture
async def other_shop(runtime: Runtime) -> MerchantFixture:
    return await make_merchant(runtime, "Shop B")


async def test_empty_list(client: httpx.AsyncClient, shop: MerchantFixture) -> None:
    response = await client.get("/v1/orders", headers=shop.headers)
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


async def test_pages_cover_every_order_once_newest_first(
    client: httpx.AsyncClient, runtime: Runtime, shop: MerchantFixture
) -> None:
    created = [await insert_order(runtime, shop, created_at=T0 + timedelta(minutes=i)) for i in range(7)]
    created.append(await insert_order(runtime, shop, created_at=T0 + timedelta(minutes=6)))  # same instant as #6
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/v1/orders", params=params, headers=shop.headers)).json()
        seen += [item["order_id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    expected = [o.id for o in sorted(created, key=lambda o: (o.created_at, o.id), reverse=True)]
    assert seen == expected
    assert pages == 3


async def test_filters(client: httpx.AsyncClient, runtime: Runtime, shop: MerchantFixture) -> None:
    paid = await insert_order(runtime, shop, created_at=T0, status=OrderStatus.PAID, channel="wechat")
    paying = await insert_order(
        runtime, shop, created_at=T0 + timedelta(hours=1), status=OrderStatus.PAYING, channel="alipay"
    )
    late = await insert_order(runtime, shop, created_at=T0 + timedelta(days=1), channel="unionpay")

    async def ids(**params: str) -> set[str]:
        response = await client.get("/v1/orders", params=params, headers=shop.headers)
        assert response.status_code == 200, response.text
        return {item["order_id"] for item in response.json()["items"]}

    assert await ids(status="PAYING") == {paying.id}
    assert await ids(channel="unionpay") == {late.id}
    assert await ids(out_trade_no=paid.out_trade_no) == {paid.id}
    assert await ids(terminal_id=shop.terminal_id) == {paid.id, paying.id, late.id}
    assert await ids(created_from=T0.isoformat(), created_to=(T0 + timedelta(hours=1)).isoformat()) == {paid.id}
    assert await ids(created_from=(T0 + timedelta(minutes=30)).isoformat()) == {paying.id, late.id}


async def test_detail_has_the_history(client: httpx.AsyncClient, runtime: Runtime, shop: MerchantFixture) -> None:
    order = await insert_order(runtime, shop, created_at=T0, amount_fen=1250)
    response = await client.get(f"/v1/orders/{order.id}", headers=shop.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["amount_fen"] == 1250
    assert body["created_at"] == "2026-11-01T08:00:00Z"
    assert [(t["from_status"], t["to_status"]) for t in body["transitions"]] == [(None, "CREATED"), ("CREATED", "PAID")]
    assert body["transitions"][1]["detail"] == {"note": "inserted by a test"}


async def test_a_failed_order_says_why_and_names_its_id_as_terminals_see_it(
    client: httpx.AsyncClient, runtime: Runtime, shop: MerchantFixture
) -> None:
    failed = await insert_order(
        runtime,
        shop,
        status=OrderStatus.FAILED,
        failure_code="payment_declined",
        failure_detail="NOTENOUGH: the balance is too low",
    )
    paid = await insert_order(runtime, shop, created_at=T0)
    detail = (await client.get(f"/v1/orders/{failed.id}", headers=shop.headers)).json()
    assert (detail["order_id"], detail["failure_code"], detail["failure_detail"]) == (
        failed.id,
        "payment_declined",
        "NOTENOUGH: the balance is too low",
    )
    assert "id" not in detail
    listed = {item["order_id"]: item for item in (await client.get("/v1/orders", headers=shop.headers)).json()["items"]}
    assert listed[failed.id]["failure_code"] == "payment_declined"
    assert (listed[paid.id]["failure_code"], listed[paid.id]["failure_detail"]) == (None, None)
    # Every field a terminal sees of a payment (PaymentOut) has the same name in the merchant's order.
    assert set(PaymentOut.model_fields) <= set(detail)


async def test_merchants_see_only_their_own_orders(
    client: httpx.AsyncClient, runtime: Runtime, shop: MerchantFixture, other_shop: MerchantFixture
) -> None:
    mine = await insert_order(runtime, shop)
    theirs = await insert_order(runtime, other_shop, out_trade_no=mine.out_trade_no)  # numbers are per merchant
    listed = (await client.get("/v1/orders", headers=shop.headers)).json()["items"]
    assert [item["order_id"] for item in listed] == [mine.id]
    response = await client.get(f"/v1/orders/{theirs.id}", headers=shop.headers)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "order_not_found"
    by_number = await client.get("/v1/orders", params={"out_trade_no": mine.out_trade_no}, headers=other_shop.headers)
    assert [item["order_id"] for item in by_number.json()["items"]] == [theirs.id]


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"X-API-Key": "mk_nope_nope"}, "invalid_api_key"),
        ({"X-API-Key": "junk"}, "invalid_api_key"),
    ],
)
async def test_authentication(client: httpx.AsyncClient, headers: dict[str, str], code: str) -> None:
    response = await client.get("/v1/orders", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response.headers["www-authenticate"] == "ApiKey"


async def test_a_right_prefix_with_a_wrong_secret_is_refused(client: httpx.AsyncClient, shop: MerchantFixture) -> None:
    prefix = shop.api_key.split("_")[1]
    response = await client.get("/v1/orders", headers={"X-API-Key": f"mk_{prefix}_wrongsecret"})
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cursor": "not-a-cursor"}, "invalid_cursor"),
        ({"cursor": "MjAyNi0xMS0wMVQwODowMDowMHxvcmRfeA"}, "invalid_cursor"),  # naive time inside
        ({"status": "DONE"}, "validation_error"),
        ({"channel": "paypal"}, "validation_error"),
        ({"limit": "0"}, "validation_error"),
        ({"limit": "101"}, "validation_error"),
        ({"limit": "ten"}, "validation_error"),
        ({"created_from": "2026-11-01T08:00:00"}, "validation_error"),  # no timezone
        ({"out_trade_no": "A" * 33}, "validation_error"),
        ({"out_trade_no": "abc-123"}, "validation_error"),
        ({"sort": "amount"}, "unknown_parameter"),
    ],
)
async def test_bad_queries(client: httpx.AsyncClient, shop: MerchantFixture, params: dict[str, str], code: str) -> None:
    response = await client.get("/v1/orders", params=params, headers=shop.headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    assert problem["status"] == 422
    assert problem["type"] == f"/problems/{code}"
    assert problem["title"] and problem["detail"]
