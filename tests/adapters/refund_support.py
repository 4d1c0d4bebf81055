"""Refund helpers the channel suites share: the simulator's view of refunds, waiting for them to end, old orders."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.protocol import (
    ChannelAdapter,
    MicropayRequest,
    RefundNotification,
    RefundRequest,
    RefundResult,
    RefundStatus,
    TradeStatus,
)
from adapters.simcore.app import ChannelSimulator
from adapters.simcore.faults import Fault
from tests.support.simcontrol import NotifyReceiver, SimControl, eventually, order_no

PAID_FEN = 10_000  # what the refund scenarios' orders pay


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


@dataclass
class RefundKit:
    """One channel's adapter, its simulator (in process and over HTTP) and a refund notify_url."""

    adapter: ChannelAdapter
    control: SimControl
    simulator: ChannelSimulator
    receiver: NotifyReceiver

    async def paid_order(self, amount_fen: int = PAID_FEN) -> str:
        """A micropay paid at once; its out_trade_no."""
        request = MicropayRequest(order_no(), amount_fen, await self.control.code(Fault.SUCCESS), "refund test")
        assert (await self.adapter.micropay(request)).status is TradeStatus.PAID
        return request.out_trade_no

    def request(self, out_trade_no: str, refund_fen: int, out_refund_no: str) -> RefundRequest:
        return RefundRequest(
            out_trade_no, out_refund_no, PAID_FEN, refund_fen, reason="退货", notify_url=self.receiver.url
        )

    def notified(self, out_refund_no: str) -> list[RefundNotification]:
        """The verified refund notifications received for one refund number."""
        return [n for n in self.receiver.received if getattr(n, "out_refund_no", None) == out_refund_no]

    async def wait_notified(self, out_refund_no: str) -> RefundNotification:
        await eventually(lambda: bool(self.notified(out_refund_no)))
        return self.notified(out_refund_no)[0]

    async def refund_state(self, out_trade_no: str, out_refund_no: str) -> str:
        return (await sim_refunds(self.control, out_trade_no))[out_refund_no]
