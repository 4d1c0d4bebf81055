"""C-scan-B against the simulator over real HTTP: unifiedorder, the scan, notifications and closing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from adapters.protocol import AlreadyPaid, OrderNotFound, OrderStateConflict, PrecreateRequest, TradeStatus
from adapters.simcore.app import SimulatorSettings
from adapters.simcore.bank import BankSettings
from adapters.unionpay.client import UnionpayAdapter
from adapters.unionpay.simulator import SIM_MER_ID, UnionpaySimulator, adapter_config, create_simulator
from adapters.unionpay.wire import qr_token
from tests.support.servers import serve_app
from tests.support.simcontrol import NotifyReceiver, SimControl, eventually, order_no


def dynamic(out_trade_no: str, notify_url: str, amount_fen: int = 2500, expires_in_s: float = 600) -> PrecreateRequest:
    return PrecreateRequest(
        out_trade_no=out_trade_no,
        amount_fen=amount_fen,
        description="午餐",
        notify_url=notify_url,
        expires_at=datetime.now(UTC) + timedelta(seconds=expires_in_s),
    )


async def test_qr_code_is_a_unionpay_url_and_waits_for_the_scan(
    adapter: UnionpayAdapter, simulator: UnionpaySimulator, receiver: NotifyReceiver
) -> None:
    out = order_no()

    result = await adapter.precreate(dynamic(out, receiver.url))

    assert result.code_url.startswith("https://qr.95516.com/00010001/62")
    assert qr_token(result.code_url) is not None
    assert simulator.order_for_code_url(result.code_url) == out
    queried = await adapter.query(out)
    assert (queried.status, queried.channel_status) == (TradeStatus.WAITING, "02")


async def test_scan_pays_and_the_notification_verifies(
    adapter: UnionpayAdapter, control: SimControl, receiver: NotifyReceiver
) -> None:
    out = order_no()
    code_url = (await adapter.precreate(dynamic(out, receiver.url))).code_url
    customer = await control.customer(10_000)

    scanned = await control.scan(code_url, customer)

    assert scanned.status_code == 200
    await eventually(lambda: len(receiver.bodies) >= 1)
    body, content_type = receiver.bodies[0]
    notification = adapter.parse_notification(body, content_type)
    assert notification.trade.status is TradeStatus.PAID
    assert notification.trade.out_trade_no == out
    assert notification.trade.amount_fen == 2500
    assert notification.app_id == SIM_MER_ID
    assert notification.raw["transIndex"] == notification.trade.channel_trade_no
    assert (await adapter.query(out)).status is TradeStatus.PAID
    assert await control.ledger(out) == [("charge", 2500)]


async def test_notification_is_retried_until_the_exact_acknowledgement(
    adapter: UnionpayAdapter,
    simulator: UnionpaySimulator,
    control: SimControl,
    receiver: NotifyReceiver,
) -> None:
    receiver.answers = [(200, b"SUCCESS"), (500, b"success"), (200, b"success")]
    out = order_no()
    code_url = (await adapter.precreate(dynamic(out, receiver.url))).code_url

    await control.scan(code_url, await control.customer())

    def acks() -> list[bool]:
        return [attempt.acknowledged for attempt in simulator.notifier.attempts if attempt.reference == out]

    # the simulator logs an attempt after the receiver answered: wait for the log, not just the deliveries
    await eventually(lambda: len(receiver.bodies) >= 3 and len(acks()) >= 3)
    assert acks() == [False, False, True]
    assert adapter.notification_ack(True).body == b"success"
    assert adapter.notification_ack(True).status_code == 200
    assert adapter.notification_ack(False).status_code == 400


async def test_amount_ending_10_notifies_twice(
    adapter: UnionpayAdapter, control: SimControl, receiver: NotifyReceiver
) -> None:
    out = order_no()
    code_url = (await adapter.precreate(dynamic(out, receiver.url, amount_fen=1010))).code_url

    await control.scan(code_url, await control.customer())

    await eventually(lambda: len(receiver.bodies) >= 2)
    trades = [adapter.parse_notification(body, kind).trade for body, kind in receiver.bodies]
    assert {(trade.out_trade_no, trade.status) for trade in trades} == {(out, TradeStatus.PAID)}
    assert await control.ledger(out) == [("charge", 1010)]


async def test_amount_ending_11_never_notifies_but_query_finds_it(
    adapter: UnionpayAdapter,
    simulator: UnionpaySimulator,
    control: SimControl,
    receiver: NotifyReceiver,
) -> None:
    out = order_no()
    code_url = (await adapter.precreate(dynamic(out, receiver.url, amount_fen=1011))).code_url

    await control.scan(code_url, await control.customer())

    assert (await adapter.query(out)).status is TradeStatus.PAID
    assert simulator.notifier.attempts == []
    assert receiver.bodies == []


async def test_amount_ending_12_notifies_after_one_ladder_step(
    var_dir: Path, http: httpx.AsyncClient, receiver: NotifyReceiver
) -> None:
    # a long first step (100 s x 0.01) so "not yet" is certain when we look
    simulator = create_simulator(
        var_dir, SimulatorSettings(bank=BankSettings(time_scale=0.01), notify_ladder_s=(100.0, 100.0))
    )
    async with serve_app(simulator.app) as sim_url:
        adapter = UnionpayAdapter(adapter_config(var_dir, sim_url), http)
        control = SimControl(http, sim_url)
        out = order_no()
        code_url = (await adapter.precreate(dynamic(out, receiver.url, amount_fen=1012))).code_url

        await control.scan(code_url, await control.customer())

        assert receiver.bodies == []
        assert (await adapter.query(out)).status is TradeStatus.PAID
        await eventually(lambda: len(receiver.bodies) >= 1, attempts=500)
        assert adapter.parse_notification(*receiver.bodies[0]).trade.out_trade_no == out


async def test_same_order_again_returns_the_same_code(adapter: UnionpayAdapter, receiver: NotifyReceiver) -> None:
    out = order_no()
    request = dynamic(out, receiver.url)

    first = await adapter.precreate(request)
    second = await adapter.precreate(request)

    assert first.code_url == second.code_url


async def test_same_order_number_with_another_amount_is_refused(
    adapter: UnionpayAdapter, receiver: NotifyReceiver
) -> None:
    out = order_no()
    await adapter.precreate(dynamic(out, receiver.url))

    with pytest.raises(OrderStateConflict) as raised:
        await adapter.precreate(dynamic(out, receiver.url, amount_fen=2600))

    assert raised.value.code == "36"


async def test_close_unpaid_order_then_scan_fails(
    adapter: UnionpayAdapter, control: SimControl, receiver: NotifyReceiver
) -> None:
    out = order_no()
    code_url = (await adapter.precreate(dynamic(out, receiver.url))).code_url

    await adapter.close(out)

    queried = await adapter.query(out)
    assert (queried.status, queried.channel_status) == (TradeStatus.CLOSED, "03")
    assert (await control.scan(code_url, await control.customer())).status_code == 409
    assert await control.ledger(out) == []


async def test_close_paid_order_says_already_paid(
    adapter: UnionpayAdapter, control: SimControl, receiver: NotifyReceiver
) -> None:
    out = order_no()
    code_url = (await adapter.precreate(dynamic(out, receiver.url))).code_url
    await control.scan(code_url, await control.customer())

    with pytest.raises(AlreadyPaid) as raised:
        await adapter.close(out)

    assert raised.value.code == "35"
    assert await control.ledger(out) == [("charge", 2500)]


async def test_close_unknown_order(adapter: UnionpayAdapter) -> None:
    with pytest.raises(OrderNotFound) as raised:
        await adapter.close(order_no())

    assert raised.value.code == "34"


async def test_pay_timeout_in_the_past_closes_the_order(
    adapter: UnionpayAdapter, control: SimControl, receiver: NotifyReceiver
) -> None:
    out = order_no()
    code_url = (await adapter.precreate(dynamic(out, receiver.url, expires_in_s=-1))).code_url

    assert (await adapter.query(out)).status is TradeStatus.CLOSED
    assert (await control.scan(code_url, await control.customer())).status_code == 409


async def test_works_mounted_under_a_prefix(var_dir: Path, http: httpx.AsyncClient, receiver: NotifyReceiver) -> None:
    simulator = create_simulator(var_dir, SimulatorSettings(bank=BankSettings(time_scale=0.01)))
    host = Starlette(routes=[Mount("/sim/unionpay", app=simulator.app)])
    async with serve_app(host, lifespan="off") as root:
        base = f"{root}/sim/unionpay"
        adapter = UnionpayAdapter(adapter_config(var_dir, base), http)
        control = SimControl(http, base)
        out = order_no()
        code_url = (await adapter.precreate(dynamic(out, receiver.url))).code_url

        assert (await control.scan(code_url, await control.customer())).status_code == 200
        assert (await adapter.query(out)).status is TradeStatus.PAID
        await simulator.aclose()


async def test_notification_payload_is_json_with_the_documented_fields(
    adapter: UnionpayAdapter, control: SimControl, receiver: NotifyReceiver
) -> None:
    out = order_no()
    code_url = (await adapter.precreate(dynamic(out, receiver.url))).code_url
    await control.scan(code_url, await control.customer())

    await eventually(lambda: len(receiver.bodies) >= 1)

    body, content_type = receiver.bodies[0]
    assert content_type is not None and content_type.startswith("application/json")
    fields = json.loads(body)
    assert {"orderNo", "txnAmt", "transIndex", "origRespCode", "merId", "serProvId", "signature"} <= set(fields)
    assert (fields["orderNo"], fields["txnAmt"], fields["origRespCode"]) == (out, "2500", "00")
