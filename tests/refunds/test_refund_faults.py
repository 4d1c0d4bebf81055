"""Every refund fault of each simulator, end to end: the refund's end, how it got there, and the channel's books."""

from __future__ import annotations

import asyncio

import pytest

from adapters.simcore.faults import RefundFault
from tests.refunds.conftest import CHANNELS, merchant_refund, pay, refunded_at_channel, settled
from tests.support.live import LiveGateway

#: What each fault ends as, per channel: the refund's status and failure_code (Alipay finishes every accepted
#: refund at once, and refuses `27` at once).
OUTCOMES: dict[RefundFault, dict[str, tuple[str, str | None]]] = {
    RefundFault.REJECTED: dict.fromkeys(CHANNELS, ("FAILED", "refund_rejected")),
    RefundFault.UNKNOWN_THEN_SUCCESS: dict.fromkeys(CHANNELS, ("SUCCEEDED", None)),
    RefundFault.MERCHANT_BALANCE: dict.fromkeys(CHANNELS, ("FAILED", "refund_rejected")),
    RefundFault.NEEDS_QUERIES: dict.fromkeys(CHANNELS, ("SUCCEEDED", None)),
    RefundFault.NOTIFY_ONLY: dict.fromkeys(CHANNELS, ("SUCCEEDED", None)),
    RefundFault.QUERY_ONLY: dict.fromkeys(CHANNELS, ("SUCCEEDED", None)),
    RefundFault.FAILS_LATER: {
        "wechat": ("FAILED", "refund_failed_at_channel"),
        "alipay": ("FAILED", "refund_rejected"),
        "unionpay": ("FAILED", "refund_failed_at_channel"),
    },
}


async def _notifications(live: LiveGateway, channel: str, reference: str) -> int:
    """How many refund notifications the simulator sent for one refund number."""
    response = await live.http.get(f"{live.url}/sim/{channel}/_sim/notifications")
    attempts = response.json()["attempts"] if isinstance(response.json(), dict) else response.json()
    return sum(1 for attempt in attempts if attempt.get("reference") == reference)


@pytest.mark.parametrize("channel", CHANNELS)
async def test_every_refund_fault(live: LiveGateway, channel: str) -> None:
    faults = list(OUTCOMES)
    orders = await asyncio.gather(*(pay(live, channel, 1000) for _ in faults))
    # The refund amount's last two digits pick the fault: 121, 122, ... 127 fen.
    answers = await asyncio.gather(
        *(
            merchant_refund(live, order_id, 100 + int(fault.value))
            for order_id, fault in zip(orders, faults, strict=True)
        )
    )
    assert {answer.status_code for answer in answers} <= {200, 202}, [answer.text for answer in answers]
    for order_id, fault, answer in zip(orders, faults, answers, strict=True):
        found = await settled(live, order_id)
        [refund] = found["items"]
        status, failure_code = OUTCOMES[fault][channel]
        assert (refund["status"], refund["failure_code"]) == (status, failure_code), (fault, refund)
        amount = 100 + int(fault.value)
        succeeded = status == "SUCCEEDED"
        assert await refunded_at_channel(live, channel, order_id) == ([amount] if succeeded else []), fault
        assert (found["status"], found["refunded_fen"], found["refundable_fen"]) == (
            ("PARTIALLY_REFUNDED", amount, 1000 - amount) if succeeded else ("PAID", 0, 1000)
        ), fault
        assert answer.json()["refund_id"] == refund["refund_id"]

    if channel != "alipay":  # the asynchronous channels: one refund finished only by its notification, one only
        # by a query (the simulator's refund queries of 25 keep saying processing; 26 is never notified)
        by_fault = dict(zip(faults, answers, strict=True))
        notify_only = by_fault[RefundFault.NOTIFY_ONLY].json()["refund_id"].replace("_", "")
        query_only = by_fault[RefundFault.QUERY_ONLY].json()["refund_id"].replace("_", "")
        assert await _notifications(live, channel, notify_only) >= 1
        assert await _notifications(live, channel, query_only) == 0
