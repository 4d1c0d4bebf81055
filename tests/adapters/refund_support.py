"""Refund helpers the channel suites share: the simulator's view of refunds, waiting for them to end, old orders."""

from __future__ import annotations

from adapters.protocol import ChannelAdapter, RefundResult, RefundStatus
from tests.support.simcontrol import SimControl, eventually


async def sim_refunds(control: SimControl, out_trade_no: str) -> dict[str, str]:
    """The simulator's refunds of an order: out_refund_no -> state (processing, success, failed)."""
    response = await control.http.get(f"{control.base_url}/_sim/orders/{out_trade_no}")
    assert response.status_code == 200, response.text
    return {refund["out_refund_no"]: refund["state"] for refund in response.json()["refunds"]}


async def settled_ledger(control: SimControl, out_trade_no: str) -> list[tuple[str, int]]:
    """The order's ledger once none of its refunds is processing any more (time ends them: polled, bounded)."""

    async def settled() -> bool:
        return "processing" not in (await sim_refunds(control, out_trade_no)).values()

    await eventually(settled)
    return await control.ledger(out_trade_no)


async def queried_until_final(adapter: ChannelAdapter, out_trade_no: str, out_refund_no: str) -> RefundResult:
    """Refund queries until one says SUCCESS or FAILED (bounded); every query counts at the simulator."""
    results: list[RefundResult] = []

    async def final() -> bool:
        results.append(await adapter.refund_query(out_trade_no, out_refund_no))
        return results[-1].status is not RefundStatus.PROCESSING

    await eventually(final)
    return results[-1]


async def backdate(control: SimControl, out_trade_no: str, days: int) -> None:
    """Make the simulator believe the order was paid `days` ago."""
    response = await control.http.post(f"{control.base_url}/_sim/orders/{out_trade_no}/backdate", json={"days": days})
    assert response.status_code == 200, response.text
