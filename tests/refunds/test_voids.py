"""Voids (撤销): a supervisor undoes a payment of the open batch, as the channel's reverse or a full refund."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from gateway.client import TerminalClient
from gateway.persistence import batches
from gateway.persistence.database import Tx
from gateway.persistence.tables import Refund
from tests.qr.conftest import create_qr, scan, wait_status
from tests.refunds.conftest import CHANNELS, pay, settled, terminal_refund
from tests.support.live import LiveGateway

SUPERVISOR = {"number": "900", "password": "supervisor-900"}
CASHIER = {"number": "001", "password": "cashier-001"}


async def void(live: LiveGateway, order_id: str, supervisor: dict[str, str] | None = SUPERVISOR) -> httpx.Response:
    body: dict[str, Any] = {} if supervisor is None else {"supervisor": supervisor}
    return await live.terminal.request("POST", f"/v1/payments/{order_id}/void", body)


async def voided(live: LiveGateway, order_id: str, supervisor: dict[str, str] | None = SUPERVISOR) -> dict[str, Any]:
    """Void the payment and wait for the void to finish; the void as the order's refunds list shows it."""
    response = await void(live, order_id, supervisor)
    assert response.status_code in (200, 202), response.text
    found = await settled(live, order_id)
    [the_void] = [item for item in found["items"] if item["refund_id"] == response.json()["refund_id"]]
    return dict(the_void)


def problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code, response.text


async def payment(live: LiveGateway, order_id: str) -> dict[str, Any]:
    response = await live.terminal.get_payment(order_id)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def refund_rows(live: LiveGateway, order_id: str) -> int:
    def count(tx: Tx) -> int:
        return int(tx.connection.execute(select(func.count()).where(Refund.order_id == order_id)).scalar_one())

    return await live.runtime.db.transaction(count)


async def qr_paid(live: LiveGateway, channel: str, amount_fen: int) -> str:
    created = await create_qr(live, channel, amount_fen)
    assert await scan(live, channel, created["code_url"]) == 200
    await wait_status(live, created["order_id"], "PAID")
    return str(created["order_id"])


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_micropay_is_voided_by_the_channels_reverse(live: LiveGateway, channel: str) -> None:
    order_id = await pay(live, channel, 1250)
    paid = await payment(live, order_id)
    the_void = await voided(live, order_id)
    assert the_void["status"] == "SUCCEEDED", the_void
    assert (the_void["kind"], the_void["channel_action"], the_void["amount_fen"]) == ("void", "reverse", 1250)
    assert the_void["batch_no"] == paid["batch_no"]
    assert int(the_void["voucher_no"]) == int(paid["voucher_no"]) + 1  # a transaction of its own
    assert int(the_void["reference_no"]) == int(paid["reference_no"]) + 1
    assert the_void["supervisor_id"] is not None
    assert (await payment(live, order_id))["status"] == "VOIDED"
    moved = [(entry["kind"], entry["amount_fen"]) for entry in await live.ledger(channel, order_id)]
    assert moved == [("charge", 1250), ("reversal", 1250)]

    events = (await live.terminal.poll_events(live.credentials["terminal_id"], 0)).json()["items"]
    [told] = [event for event in events if event["event"] == "void.succeeded"]
    assert told["data"]["refund_id"] == the_void["refund_id"] and told["data"]["order"]["status"] == "VOIDED"


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_dynamic_code_payment_is_voided_by_a_full_refund(live: LiveGateway, channel: str) -> None:
    order_id = await qr_paid(live, channel, 990)
    the_void = await voided(live, order_id)
    assert (the_void["status"], the_void["channel_action"], the_void["amount_fen"]) == ("SUCCEEDED", "refund", 990)
    assert (await payment(live, order_id))["status"] == "VOIDED"
    moved = [(entry["kind"], entry["amount_fen"]) for entry in await live.ledger(channel, order_id)]
    assert moved == [("charge", 990), ("refund", 990)]


async def test_voiding_again_answers_the_same_void_and_moves_money_once(live: LiveGateway) -> None:
    order_id = await pay(live, "alipay", 700)
    first, second = await asyncio.gather(void(live, order_id), void(live, order_id))
    assert {first.status_code, second.status_code} <= {200, 202}, (first.text, second.text)
    assert first.json()["refund_id"] == second.json()["refund_id"]
    await settled(live, order_id)
    again = await void(live, order_id)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["refund_id"] == first.json()["refund_id"]
    assert [entry["kind"] for entry in await live.ledger("alipay", order_id)] == ["charge", "reversal"]


async def test_a_signed_in_supervisor_approves_without_a_password(live: LiveGateway) -> None:
    order_id = await pay(live, "wechat", 300)
    assert (await live.terminal.sign_in(CASHIER["number"], CASHIER["password"])).status_code == 200
    problem(await void(live, order_id, None), 403, "supervisor_required")
    assert (await live.terminal.sign_in(SUPERVISOR["number"], SUPERVISOR["password"])).status_code == 200
    the_void = await voided(live, order_id, None)
    assert the_void["status"] == "SUCCEEDED" and the_void["supervisor_id"] == the_void["operator_id"]


async def test_a_cashier_or_a_wrong_password_is_refused_and_five_lock_the_supervisor(live: LiveGateway) -> None:
    order_id = await pay(live, "unionpay", 400)
    problem(await void(live, order_id, CASHIER), 403, "supervisor_required")
    wrong = {"number": SUPERVISOR["number"], "password": "not-the-password"}
    for _ in range(4):
        problem(await void(live, order_id, wrong), 403, "operator_sign_in_failed")
    problem(await void(live, order_id, wrong), 403, "operator_locked")
    problem(await void(live, order_id, SUPERVISOR), 403, "operator_locked")  # the right one too, while locked
    assert await refund_rows(live, order_id) == 0 and (await payment(live, order_id))["status"] == "PAID"


async def test_a_payment_of_a_settled_batch_is_pointed_to_refunds(live: LiveGateway) -> None:
    order_id = await pay(live, "wechat", 500)
    await live.runtime.db.transaction(batches.close_batch, live.credentials["terminal_id"])
    refused = await void(live, order_id)
    problem(refused, 409, "batch_settled")
    assert "/v1/refunds" in refused.json()["detail"]
    assert await refund_rows(live, order_id) == 0
    refund = await terminal_refund(live, order_id, 500)  # what it points to still works
    assert refund.status_code in (200, 202), refund.text


async def test_what_cannot_be_voided_is_refused_with_nothing_written(live: LiveGateway) -> None:
    refunded = await pay(live, "alipay", 600)
    assert (await terminal_refund(live, refunded, 100)).status_code in (200, 202)
    await settled(live, refunded)
    problem(await void(live, refunded), 409, "order_not_voidable")
    assert await refund_rows(live, refunded) == 1

    created = await create_qr(live, "wechat", 800)  # awaiting payment: nothing to void
    problem(await void(live, created["order_id"]), 409, "order_not_voidable")
    problem(await void(live, "ord_doesnotexist"), 404, "payment_not_found")

    mine = await pay(live, "wechat", 900)
    c = live.credentials
    other = await live.runtime.merchants.create_terminal(c["merchant_id"], c["store_id"], "Till 2")
    other_terminal = TerminalClient(live.url, other.key_id, other.secret, live.http)
    body = {"supervisor": SUPERVISOR}
    problem(await other_terminal.request("POST", f"/v1/payments/{mine}/void", body), 404, "payment_not_found")
    assert await refund_rows(live, mine) == 0
    extra = await live.terminal.request("POST", f"/v1/payments/{mine}/void", {**body, "amount_fen": 1})
    problem(extra, 422, "validation_error")  # always the whole amount: there is nothing else to say


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_void_and_a_refund_at_once_exactly_one_is_accepted(live: LiveGateway, channel: str) -> None:
    order_id = await pay(live, channel, 1000)
    voiding, refunding = await asyncio.gather(
        void(live, order_id), terminal_refund(live, order_id, 1000, "R" + secrets.token_hex(6))
    )
    accepted = [r for r in (voiding, refunding) if r.status_code in (200, 202)]
    assert len(accepted) == 1, (voiding.text, refunding.text)
    refused = voiding if refunding in accepted else refunding
    assert refused.status_code in (409, 422) and refused.json()["code"] in (
        "order_not_voidable",
        "refund_exceeds_remaining",
        "order_not_refundable",
    ), refused.text
    await settled(live, order_id)
    final = (await payment(live, order_id))["status"]
    assert final == ("VOIDED" if voiding in accepted else "REFUNDED")
    given_back = [e["amount_fen"] for e in await live.ledger(channel, order_id) if e["kind"] != "charge"]
    assert given_back == [1000]
