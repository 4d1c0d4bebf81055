"""alipay.trade.refund, fastpay.refund.query and the trade bill over real HTTP, with the ledger as the witness."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from adapters.alipay.client import AlipayAdapter
from adapters.alipay.simulator import AlipaySimulator, adapter_config
from adapters.alipay.wire import beijing_today
from adapters.protocol import (
    DefiniteFailure,
    OrderNotFound,
    OrderStateConflict,
    OutcomeUnknown,
    RefundRejected,
    RefundRequest,
    RefundStatus,
    TradeStatus,
)
from tests.adapters.alipay.conftest import micropay_request, raw_call, signed_params
from tests.support.servers import serve_app
from tests.support.simcontrol import SimControl, order_no


async def paid_order(adapter: AlipayAdapter, control: SimControl, amount_fen: int = 1_000) -> str:
    request = micropay_request(await control.code("00"), amount_fen=amount_fen)
    assert (await adapter.micropay(request)).status is TradeStatus.PAID
    return request.out_trade_no


def refund_of(out_trade_no: str, refund_fen: int, out_refund_no: str | None = None) -> RefundRequest:
    return RefundRequest(out_trade_no, out_refund_no or order_no("R"), 1_000, refund_fen, reason="退货")


async def test_partial_refunds_then_the_rest_closes_the_trade(adapter: AlipayAdapter, control: SimControl) -> None:
    out_trade_no = await paid_order(adapter, control)
    first = await adapter.refund(refund_of(out_trade_no, 300))
    assert (first.status, first.refund_fen) == (RefundStatus.SUCCESS, 300)
    queried = await adapter.query(out_trade_no)
    assert (queried.status, queried.channel_status) == (TradeStatus.PAID, "TRADE_SUCCESS")  # partial keeps it open
    await adapter.refund(refund_of(out_trade_no, 700))
    queried = await adapter.query(out_trade_no)
    assert (queried.status, queried.channel_status) == (TradeStatus.REFUNDED, "TRADE_CLOSED")
    assert await control.ledger(out_trade_no) == [("charge", 1_000), ("refund", 300), ("refund", 700)]


async def test_repeated_request_number_refunds_once(adapter: AlipayAdapter, control: SimControl) -> None:
    out_trade_no = await paid_order(adapter, control)
    request = refund_of(out_trade_no, 400)
    assert (await adapter.refund(request)).status is RefundStatus.SUCCESS  # fund_change=Y
    # fund_change=N: nothing moved this time, and Alipay says to confirm with the refund query
    assert (await adapter.refund(request)).status is RefundStatus.PROCESSING
    assert (await adapter.refund_query(out_trade_no, request.out_refund_no)).status is RefundStatus.SUCCESS
    assert await control.ledger(out_trade_no) == [("charge", 1_000), ("refund", 400)]


async def test_repeat_answers_fund_change_n(
    adapter: AlipayAdapter, control: SimControl, sim_url: str, http: httpx.AsyncClient
) -> None:
    out_trade_no = await paid_order(adapter, control)
    biz = {"out_trade_no": out_trade_no, "refund_amount": "4.00", "out_request_no": "RQ1"}
    answers = [
        (await raw_call(http, sim_url, signed_params(adapter._config, "alipay.trade.refund", biz)))[
            "alipay_trade_refund_response"
        ]
        for _ in range(2)
    ]
    assert [a["fund_change"] for a in answers] == ["Y", "N"]
    assert [a["refund_fee"] for a in answers] == ["4.00", "4.00"]  # the trade's refunded total
    assert await control.ledger(out_trade_no) == [("charge", 1_000), ("refund", 400)]


async def test_same_request_number_with_another_amount_is_refused(adapter: AlipayAdapter, control: SimControl) -> None:
    out_trade_no = await paid_order(adapter, control)
    await adapter.refund(refund_of(out_trade_no, 400, "RQ-1"))
    with pytest.raises(RefundRejected) as raised:
        await adapter.refund(refund_of(out_trade_no, 500, "RQ-1"))
    assert raised.value.code == "ACQ.DISCORDANT_REPEAT_REQUEST"
    assert await control.ledger(out_trade_no) == [("charge", 1_000), ("refund", 400)]


async def test_refund_beyond_the_paid_amount_is_refused(adapter: AlipayAdapter, control: SimControl) -> None:
    out_trade_no = await paid_order(adapter, control)
    await adapter.refund(refund_of(out_trade_no, 600))
    with pytest.raises(RefundRejected) as raised:
        await adapter.refund(refund_of(out_trade_no, 401))
    assert raised.value.code == "ACQ.REASON_TRADE_REFUND_FEE_ERR"
    assert await control.ledger(out_trade_no) == [("charge", 1_000), ("refund", 600)]


async def test_refund_of_an_unpaid_or_unknown_trade(adapter: AlipayAdapter, control: SimControl) -> None:
    waiting = micropay_request(await control.code("02"))
    await adapter.micropay(waiting)
    with pytest.raises(OrderStateConflict) as raised:
        await adapter.refund(refund_of(waiting.out_trade_no, 100))
    assert raised.value.code == "ACQ.TRADE_STATUS_ERROR"
    with pytest.raises(OrderNotFound):
        await adapter.refund(refund_of(order_no(), 100))
    assert await control.ledger(waiting.out_trade_no) == []


async def test_partial_refund_without_request_number_is_refused(
    adapter: AlipayAdapter, control: SimControl, sim_url: str, http: httpx.AsyncClient
) -> None:
    out_trade_no = await paid_order(adapter, control)
    partial = {"out_trade_no": out_trade_no, "refund_amount": "3.00"}
    answer = await raw_call(http, sim_url, signed_params(adapter._config, "alipay.trade.refund", partial))
    assert answer["alipay_trade_refund_response"]["sub_code"] == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    full = {"out_trade_no": out_trade_no, "refund_amount": "10.00"}
    answer = await raw_call(http, sim_url, signed_params(adapter._config, "alipay.trade.refund", full))
    assert answer["alipay_trade_refund_response"]["fund_change"] == "Y"
    # Alipay numbers such a refund by the out_trade_no, which is what refund query takes then.
    assert (await adapter.refund_query(out_trade_no, out_trade_no)).refund_fen == 1_000
    assert await control.ledger(out_trade_no) == [("charge", 1_000), ("refund", 1_000)]


@pytest.mark.parametrize("fault", ["unknown", "http_500", "http_timeout"])
async def test_refund_faults_are_unknown_and_a_retry_refunds_once(
    adapter: AlipayAdapter, impatient_adapter: AlipayAdapter, control: SimControl, fault: str
) -> None:
    out_trade_no = await paid_order(adapter, control)
    request = refund_of(out_trade_no, 250)
    await control.inject("refund", fault)
    with pytest.raises(OutcomeUnknown):
        await impatient_adapter.refund(request)
    assert await control.ledger(out_trade_no) == [("charge", 1_000)]  # queued faults do nothing
    assert (await adapter.refund(request)).status is RefundStatus.SUCCESS
    assert await control.ledger(out_trade_no) == [("charge", 1_000), ("refund", 250)]


async def test_refund_query(adapter: AlipayAdapter, control: SimControl) -> None:
    out_trade_no = await paid_order(adapter, control)
    await adapter.refund(refund_of(out_trade_no, 350, "RQ-9"))
    found = await adapter.refund_query(out_trade_no, "RQ-9")
    assert (found.out_refund_no, found.status, found.refund_fen) == ("RQ-9", RefundStatus.SUCCESS, 350)
    with pytest.raises(OrderNotFound):
        await adapter.refund_query(out_trade_no, "never-sent")
    with pytest.raises(OrderNotFound):
        await adapter.refund_query(order_no(), "RQ-9")
    await control.inject("refund_query", "unknown")
    with pytest.raises(OutcomeUnknown):
        await adapter.refund_query(out_trade_no, "RQ-9")


async def test_bill_lists_payments_refunds_and_reversals(adapter: AlipayAdapter, control: SimControl) -> None:
    paid = await paid_order(adapter, control, 1_000)
    await adapter.refund(refund_of(paid, 300, "RQ-B"))
    reversed_ = micropay_request(await control.code("07"), amount_fen=2_000)
    await adapter.micropay(reversed_)
    while (await adapter.reverse(reversed_.out_trade_no)).retry:
        pass
    entries = await adapter.download_bill(beijing_today())
    lines = sorted((e.kind, e.out_trade_no, e.amount_fen, e.out_refund_no) for e in entries)
    assert lines == sorted(
        [
            ("payment", paid, 1_000, None),
            ("refund", paid, 300, "RQ-B"),
            ("payment", reversed_.out_trade_no, 2_000, None),
            ("refund", reversed_.out_trade_no, 2_000, None),
        ]
    )
    assert all(entry.at.tzinfo is not None for entry in entries)


async def test_bill_of_a_future_day_does_not_exist(adapter: AlipayAdapter) -> None:
    with pytest.raises(DefiniteFailure) as raised:
        await adapter.download_bill(beijing_today() + timedelta(days=1))
    assert raised.value.code == "isp.bill_not_exist"


async def test_bill_link_is_a_zipped_gbk_csv_and_expires_when_forged(
    adapter: AlipayAdapter, control: SimControl, sim_url: str, http: httpx.AsyncClient
) -> None:
    await paid_order(adapter, control)
    biz = {"bill_type": "trade", "bill_date": beijing_today().isoformat()}
    answer = await raw_call(
        http, sim_url, signed_params(adapter._config, "alipay.data.dataservice.bill.downloadurl.query", biz)
    )
    url = answer["alipay_data_dataservice_bill_downloadurl_query_response"]["bill_download_url"]
    assert url.startswith(sim_url + "/downloadBillFile.resource?")
    archive = zipfile.ZipFile(io.BytesIO((await http.get(url)).content))
    detail = next(name for name in archive.namelist() if name.endswith("_业务明细.csv"))
    text = archive.read(detail).decode("gbk")
    assert text.startswith("#支付宝业务明细查询")
    assert "#交易合计：1笔，退款合计：0笔" in text  # noqa: RUF001 (Alipay's full-width punctuation)
    forged = (await http.get(url.replace("token=", "token=0"))).status_code
    assert forged == 403


async def test_mounted_simulator_builds_bill_links_under_its_prefix(
    simulator: AlipaySimulator, var_dir: Path, http: httpx.AsyncClient
) -> None:
    host = Starlette(routes=[Mount("/sim/alipay", app=simulator.app)])
    async with serve_app(host) as root:
        base_url = f"{root}/sim/alipay"
        adapter = AlipayAdapter(adapter_config(var_dir, base_url), http)
        await paid_order(adapter, SimControl(http, base_url))
        biz = {"bill_type": "trade", "bill_date": beijing_today().isoformat()}
        answer = await raw_call(
            http, base_url, signed_params(adapter._config, "alipay.data.dataservice.bill.downloadurl.query", biz)
        )
        url = answer["alipay_data_dataservice_bill_downloadurl_query_response"]["bill_download_url"]
        assert url.startswith(base_url + "/downloadBillFile.resource?")
        assert [entry.kind for entry in await adapter.download_bill(beijing_today())] == ["payment"]
