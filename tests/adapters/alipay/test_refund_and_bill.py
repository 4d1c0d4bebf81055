"""alipay.trade.refund, fastpay.refund.query and the trade bill over real HTTP, with the ledger as the witness."""

# Alipay's bill columns use full-width parentheses; they must stay byte-exact.
# ruff: noqa: RUF001

from __future__ import annotations

import io
import zipfile
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from adapters.alipay.client import AlipayAdapter
from adapters.alipay.simulator import AlipaySimulator, adapter_config
from adapters.alipay.wire import beijing_today
from adapters.protocol import (
    BillNotReady,
    OrderNotFound,
    OrderStateConflict,
    OutcomeUnknown,
    RefundRejected,
    RefundRequest,
    RefundStatus,
    TradeStatus,
)
from tests.adapters.alipay.conftest import micropay_request, raw_call, signed_params
from tests.adapters.refund_support import backdate
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


async def test_bill_of_a_future_day_does_not_exist(adapter: AlipayAdapter) -> None:
    with pytest.raises(BillNotReady) as raised:
        await adapter.download_bill(beijing_today() + timedelta(days=1))
    assert raised.value.code == "isp.bill_not_exist"


async def test_bill_of_a_quiet_past_day_is_empty(adapter: AlipayAdapter, control: SimControl) -> None:
    await paid_order(adapter, control)
    bill = await adapter.download_bill(beijing_today() - timedelta(days=3))
    assert (bill.entries, bill.bad_lines) == ([], [])


async def bill_link(http: httpx.AsyncClient, base_url: str, adapter: AlipayAdapter, day: date) -> str:
    biz = {"bill_type": "trade", "bill_date": day.isoformat()}
    answer = await raw_call(
        http, base_url, signed_params(adapter._config, "alipay.data.dataservice.bill.downloadurl.query", biz)
    )
    url: str = answer["alipay_data_dataservice_bill_downloadurl_query_response"]["bill_download_url"]
    return url


async def test_bill_link_is_a_zipped_gbk_csv_pair_and_refuses_forgeries(
    adapter: AlipayAdapter, control: SimControl, sim_url: str, http: httpx.AsyncClient
) -> None:
    paid = await paid_order(adapter, control)
    await adapter.refund(refund_of(paid, 300, "RQ-Z"))
    await backdate(control, paid, 1)
    yesterday = beijing_today() - timedelta(days=1)
    url = await bill_link(http, sim_url, adapter, yesterday)
    assert url.startswith(sim_url + "/downloadBillFile.resource?")
    archive = zipfile.ZipFile(io.BytesIO((await http.get(url)).content))
    names = archive.namelist()
    assert names == [
        f"2088000000000001_{yesterday:%Y%m%d}_业务明细.csv",
        f"2088000000000001_{yesterday:%Y%m%d}_业务明细(汇总).csv",
    ]
    detail = archive.read(names[0]).decode("gbk").splitlines()
    summary = archive.read(names[1]).decode("gbk").splitlines()
    assert detail[0] == "#支付宝业务明细查询"
    header = detail[4].split(",")
    payment = dict(zip(header, (cell.strip() for cell in detail[5].split(",")), strict=True))
    refund = dict(zip(header, (cell.strip() for cell in detail[6].split(",")), strict=True))
    assert (payment["业务类型"], payment["订单金额（元）"], payment["服务费（元）"]) == ("交易", "10.00", "0.06")
    assert (refund["业务类型"], refund["商家实收（元）"], refund["服务费（元）"], refund["退款批次号/请求号"]) == (
        "退款",
        "-3.00",
        "-0.02",  # 300 x 0.60 % = 1.8 fen given back
        "RQ-Z",
    )
    assert "#交易合计：1笔，商家实收共10.00元，商家优惠共0.00元" in detail
    assert "#退款合计：1笔，商家实收共-3.00元，商家优惠共0.00元" in detail
    assert summary[-2].split(",")[0] == "合计" and summary[-2].split(",")[-3:] == ["0.04", "0.00", "6.96"]
    forged = (await http.get(url.replace("token=", "token=0"))).status_code
    assert forged == 403


async def test_mounted_simulator_builds_bill_links_under_its_prefix(
    simulator: AlipaySimulator, var_dir: Path, http: httpx.AsyncClient
) -> None:
    host = Starlette(routes=[Mount("/sim/alipay", app=simulator.app)])
    async with serve_app(host) as root:
        base_url = f"{root}/sim/alipay"
        adapter = AlipayAdapter(adapter_config(var_dir, base_url), http)
        control = SimControl(http, base_url)
        await backdate(control, await paid_order(adapter, control), 1)
        yesterday = beijing_today() - timedelta(days=1)
        assert (await bill_link(http, base_url, adapter, yesterday)).startswith(
            base_url + "/downloadBillFile.resource?"
        )
        assert [entry.kind for entry in (await adapter.download_bill(yesterday)).entries] == ["payment"]
