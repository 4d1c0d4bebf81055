"""Refunds racing on one order: accepted refunds never exceed what was paid, a refund number refunds once."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from tests.refunds.conftest import (
    CHANNELS,
    merchant_refund,
    order_refunds,
    pay,
    refund_no,
    refunded_at_channel,
    settled,
    terminal_refund,
)
from tests.support.live import LiveGateway


@pytest.mark.parametrize("channel", CHANNELS)
async def test_a_hundred_concurrent_refunds_of_a_fiftieth_accept_exactly_fifty(live: LiveGateway, channel: str) -> None:
    order_id = await pay(live, channel, 10_000)
    # Half from the merchant API, half from the terminal: they share the order's reservation.
    answers = await asyncio.gather(
        *(
            (merchant_refund if index % 2 else terminal_refund)(live, order_id, 200, refund_no(f"C{index}"))
            for index in range(100)
        )
    )
    by_status = Counter(answer.status_code for answer in answers)
    accepted = [answer for answer in answers if answer.status_code in (200, 202)]
    refused = [answer for answer in answers if answer.status_code not in (200, 202)]
    assert len(accepted) == 50, by_status
    # Refused while the others are processing, or once they made the order REFUNDED.
    codes = {(answer.status_code, answer.json()["code"]) for answer in refused}
    assert codes <= {(422, "refund_exceeds_remaining"), (409, "order_not_refundable")}, codes

    found = await settled(live, order_id)
    assert len(found["items"]) == 50
    assert {item["status"] for item in found["items"]} == {"SUCCEEDED"}
    assert (found["status"], found["refunded_fen"], found["refundable_fen"]) == ("REFUNDED", 10_000, 0)
    at_channel = await refunded_at_channel(live, channel, order_id)
    assert (len(at_channel), sum(at_channel)) == (50, 10_000)


async def test_twenty_identical_requests_refund_once_and_another_body_is_refused(live: LiveGateway) -> None:
    order_id = await pay(live, "wechat", 1000)
    number = refund_no("same")
    answers = await asyncio.gather(*(terminal_refund(live, order_id, 300, number) for _ in range(20)))
    assert {answer.status_code for answer in answers} <= {200, 202}, [a.text for a in answers]
    assert len({answer.json()["refund_id"] for answer in answers}) == 1
    assert sum(answer.headers.get("Idempotent-Replayed") == "true" for answer in answers) == 19

    reused = await merchant_refund(live, order_id, 400, number)
    assert (reused.status_code, reused.json()["code"]) == (422, "out_refund_no_reused")
    found = await settled(live, order_id)
    assert [(item["amount_fen"], item["status"]) for item in found["items"]] == [(300, "SUCCEEDED")]
    assert await refunded_at_channel(live, "wechat", order_id) == [300]
    assert (found["refunded_fen"], found["refundable_fen"]) == (300, 700)

    again = await terminal_refund(live, order_id, 300, number)  # after the end: the same refund, final now
    assert (again.status_code, again.json()["status"], again.headers["Idempotent-Replayed"]) == (
        200,
        "SUCCEEDED",
        "true",
    )
    assert len((await order_refunds(live, order_id))["items"]) == 1
