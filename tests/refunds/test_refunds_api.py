"""Refunds end to end on each channel: partial then full, by the merchant and by a terminal, the order's states,
the channel's books, the events and the lookups."""

from __future__ import annotations

import json

import pytest

from tests.realtime.test_webhooks import Receiver, serve_receiver
from tests.refunds.conftest import (
    CHANNELS,
    merchant_headers,
    merchant_refund,
    order_refunds,
    pay,
    refund_no,
    refunded_at_channel,
    settled,
    terminal_refund,
)
from tests.support.live import LiveGateway
from tests.support.simcontrol import eventually


@pytest.mark.parametrize("channel", CHANNELS)
async def test_partial_then_full_refund_moves_the_order_and_the_money(live: LiveGateway, channel: str) -> None:
    order_id = await pay(live, channel, 1000)
    first = await merchant_refund(live, order_id, 300, reason="one item returned")
    assert first.status_code in (200, 202), first.text
    assert first.json()["status"] == ("SUCCEEDED" if first.status_code == 200 else "PROCESSING")
    assert first.json()["refund_id"].startswith("rfd_") and first.json()["reason"] == "one item returned"
    await settled(live, order_id)
    after_first = await order_refunds(live, order_id)
    assert (after_first["status"], after_first["refunded_fen"], after_first["refundable_fen"]) == (
        "PARTIALLY_REFUNDED",
        300,
        700,
    )
    second = await terminal_refund(live, order_id, 700)
    assert second.status_code in (200, 202), second.text
    found = await settled(live, order_id)
    assert [item["status"] for item in found["items"]] == ["SUCCEEDED", "SUCCEEDED"]
    if channel != "alipay":  # Alipay gives a refund no number of its own
        assert all(item["channel_refund_no"] for item in found["items"])
    assert (found["status"], found["refunded_fen"], found["refundable_fen"]) == ("REFUNDED", 1000, 0)
    assert sorted(await refunded_at_channel(live, channel, order_id)) == [300, 700]

    # the order's history went through the order machine, and both refunds were told to the terminal
    detail = (await live.http.get(f"{live.url}/v1/orders/{order_id}", headers=merchant_headers(live))).json()
    assert [t["to_status"] for t in detail["transitions"]][-2:] == ["PARTIALLY_REFUNDED", "REFUNDED"]
    events = (await live.terminal.poll_events(live.credentials["terminal_id"], 0)).json()["items"]
    told = [e for e in events if e["event"] == "refund.succeeded" and e["order_id"] == order_id]
    assert sorted(e["data"]["amount_fen"] for e in told) == [300, 700]
    assert told[-1]["data"]["order"]["status"] == "REFUNDED"
    assert any(e["event"] == "order.refunded" and e["order_id"] == order_id for e in events)


async def test_lookups_by_terminal_and_merchant(live: LiveGateway) -> None:
    await live.terminal.sign_in("001", "cashier-001")
    order_id = await pay(live, "alipay", 500)
    number = refund_no()
    created = await terminal_refund(live, order_id, 200, number)
    assert created.status_code == 200, created.text
    refund = created.json()
    assert (refund["out_refund_no"], refund["status"], refund["kind"]) == (number, "SUCCEEDED", "requested")
    assert refund["terminal_id"] == live.credentials["terminal_id"]
    assert refund["operator_id"] is not None and refund["finished_at"] is not None

    by_terminal = await live.terminal.request("GET", f"/v1/refunds/{refund['refund_id']}")
    by_merchant = await live.http.get(f"{live.url}/v1/refunds/{refund['refund_id']}", headers=merchant_headers(live))
    assert by_terminal.status_code == by_merchant.status_code == 200
    assert by_terminal.json() == by_merchant.json() == refund
    missing = await live.http.get(f"{live.url}/v1/refunds/rfd_nothing", headers=merchant_headers(live))
    assert (missing.status_code, missing.json()["code"]) == (404, "refund_not_found")
    unsigned = await live.http.get(f"{live.url}/v1/refunds/{refund['refund_id']}")
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "missing_api_key")


async def test_the_merchants_refund_list_filters_and_pages(live: LiveGateway) -> None:
    made: list[dict[str, object]] = []
    for channel, amount in (("wechat", 300), ("alipay", 200), ("alipay", 121), ("unionpay", 400)):  # 121: refused
        order_id = await pay(live, channel, 1000)
        made.append((await merchant_refund(live, order_id, amount)).json())
        await settled(live, order_id)
    url, headers = f"{live.url}/v1/refunds", merchant_headers(live)

    async def listed(**params: object) -> list[str]:
        response = await live.http.get(url, params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [item["refund_id"] for item in response.json()["items"]]

    ids = [str(refund["refund_id"]) for refund in made]
    assert await listed() == ids[::-1]  # newest first
    assert await listed(channel="alipay") == [ids[2], ids[1]]
    assert await listed(status="FAILED") == [ids[2]]
    assert await listed(status="SUCCEEDED", channel="alipay") == [ids[1]]
    assert await listed(status="PROCESSING") == []
    assert await listed(created_from=str(made[1]["created_at"]), created_to=str(made[3]["created_at"])) == [
        ids[2], ids[1]
    ]  # fmt: skip
    first = (await live.http.get(url, params={"limit": 3}, headers=headers)).json()
    rest = (await live.http.get(url, params={"limit": 3, "cursor": first["next_cursor"]}, headers=headers)).json()
    assert [item["refund_id"] for item in first["items"] + rest["items"]] == ids[::-1]
    assert rest["next_cursor"] is None
    for params, code in (({"sort": "amount"}, "unknown_parameter"), ({"cursor": "nope"}, "invalid_cursor")):
        refused = await live.http.get(url, params=params, headers=headers)
        assert (refused.status_code, refused.json()["code"]) == (422, code)
    other = await live.http.get(url, headers={"X-API-Key": "mk_wrong_key"})
    assert (other.status_code, other.json()["code"]) == (401, "invalid_api_key")


async def test_refund_ends_reach_the_merchants_webhook(live: LiveGateway) -> None:
    receiver = Receiver([200])
    async with await serve_receiver(receiver) as url:
        put = await live.http.put(
            f"{live.url}/v1/webhook", json={"url": f"{url}/notify"}, headers=merchant_headers(live)
        )
        assert put.status_code == 200, put.text
        order_id = await pay(live, "wechat", 1000)
        succeeded = (await merchant_refund(live, order_id, 400)).json()
        failed = (await merchant_refund(live, order_id, 121)).json()  # 21: the channel refuses it
        await settled(live, order_id)

        def told() -> dict[str, str]:
            bodies = [json.loads(body) for _, body in receiver.received]
            return {body["data"]["refund_id"]: body["type"] for body in bodies if body["type"].startswith("refund.")}

        await eventually(lambda: len(told()) == 2)
        assert told() == {succeeded["refund_id"]: "refund.succeeded", failed["refund_id"]: "refund.failed"}
