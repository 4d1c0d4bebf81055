"""wechatpy (a well-known WeChat Pay SDK) against the simulator with only its base URL changed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from wechatpy.exceptions import InvalidSignatureException, WeChatPayException
from wechatpy.pay import WeChatPay

from adapters.wechat.simulator import load_or_create_merchant
from tests.adapters.refund_support import settled_ledger
from tests.support.servers import serve_app
from tests.support.simcontrol import SimControl, order_no


@pytest.fixture
def pay(tmp_path: Path, sim_url: str) -> WeChatPay:
    merchant = load_or_create_merchant(tmp_path)
    # requests insists that a configured client certificate exists; the plain-HTTP simulator never asks for it.
    cert, key = tmp_path / "apiclient_cert.pem", tmp_path / "apiclient_key.pem"
    cert.write_text("throwaway")
    key.write_text("throwaway")
    client = WeChatPay(
        appid=merchant.appid,
        api_key=merchant.api_key,
        mch_id=merchant.mch_id,
        mch_cert=str(cert),
        mch_key=str(key),
        timeout=5,
    )
    client.API_BASE_URL = f"{sim_url}/"
    return client


async def call(pay: WeChatPay, api: Callable[..., dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
    """Run a blocking wechatpy call off the loop and check the answer's signature the SDK's way."""
    answer = await asyncio.to_thread(api, **kwargs)
    assert pay.check_signature(answer), f"signature of {answer} does not verify"
    return answer


async def test_micropay_query_refund_and_refund_query(pay: WeChatPay, control: SimControl) -> None:
    out_trade_no = order_no("S")
    auth_code = await control.code("00")

    paid = await call(
        pay,
        pay.micropay.create,
        body="coffee",
        total_fee=1_000,
        auth_code=auth_code,
        client_ip="10.0.0.1",
        out_trade_no=out_trade_no,
    )
    queried = await call(pay, pay.order.query, out_trade_no=out_trade_no)
    refund = await call(
        pay, pay.refund.apply, total_fee=1_000, refund_fee=300, out_refund_no="SR1", out_trade_no=out_trade_no
    )
    processing = await call(pay, pay.refund.query, out_trade_no=out_trade_no)
    ledger = await settled_ledger(control, out_trade_no)  # WeChat finishes an accepted refund later
    refunds = await call(pay, pay.refund.query, out_trade_no=out_trade_no)

    assert (paid["result_code"], paid["trade_type"], paid["total_fee"]) == ("SUCCESS", "MICROPAY", "1000")
    assert (queried["trade_state"], queried["transaction_id"]) == ("SUCCESS", paid["transaction_id"])
    assert (refund["refund_fee"], refund["out_refund_no"]) == ("300", "SR1")
    assert processing["refund_status_0"] == "PROCESSING"
    assert (refunds["refund_count"], refunds["refund_status_0"], refunds["refund_id_0"]) == (
        "1",
        "SUCCESS",
        refund["refund_id"],
    )
    assert ledger == [("charge", 1_000), ("refund", 300)]


async def test_userpaying_then_reverse(pay: WeChatPay, control: SimControl) -> None:
    out_trade_no = order_no("S")
    auth_code = await control.code("02")

    with pytest.raises(WeChatPayException) as raised:
        await asyncio.to_thread(
            pay.micropay.create,
            body="coffee",
            total_fee=500,
            auth_code=auth_code,
            client_ip="10.0.0.1",
            out_trade_no=out_trade_no,
        )
    reversed_ = await call(pay, pay.order.reverse, out_trade_no=out_trade_no)
    queried = await call(pay, pay.micropay.query, out_trade_no=out_trade_no)

    assert (raised.value.return_code, raised.value.errcode) == ("SUCCESS", "USERPAYING")
    assert reversed_["recall"] == "N"
    assert queried["trade_state"] == "REVOKED"
    assert await control.ledger(out_trade_no) == []


async def test_reverse_with_recall_then_paid_money_comes_back(pay: WeChatPay, control: SimControl) -> None:
    out_trade_no = order_no("S")
    auth_code = await control.code("07")
    await call(
        pay,
        pay.micropay.create,
        body="coffee",
        total_fee=700,
        auth_code=auth_code,
        client_ip="10.0.0.1",
        out_trade_no=out_trade_no,
    )

    with pytest.raises(WeChatPayException) as raised:
        await asyncio.to_thread(pay.order.reverse, out_trade_no=out_trade_no)
    assert raised.value.errcode == "SYSTEMERROR"
    assert b"<recall><![CDATA[Y]]></recall>" in raised.value.response.content
    await call(pay, pay.order.reverse, out_trade_no=out_trade_no)

    assert await control.ledger(out_trade_no) == [("charge", 700), ("reversal", 700)]


async def test_refused_request_surfaces_as_sdk_error(pay: WeChatPay) -> None:
    pay.api_key = "k" * 32

    with pytest.raises(WeChatPayException) as raised:
        await asyncio.to_thread(pay.order.query, out_trade_no="ANY")

    assert (raised.value.return_code, raised.value.return_msg) == ("FAIL", "签名错误")


async def test_native_order_and_notification_verified_by_the_sdk(pay: WeChatPay, control: SimControl) -> None:
    verified: list[dict[str, Any]] = []

    async def notify(request: Request) -> Response:
        try:
            verified.append(pay.parse_payment_result(await request.body()))
        except InvalidSignatureException:
            return Response(b"<xml><return_code>FAIL</return_code></xml>", media_type="text/xml")
        return Response(b"<xml><return_code>SUCCESS</return_code><return_msg>OK</return_msg></xml>")

    async with serve_app(Starlette(routes=[Route("/notify", notify, methods=["POST"])])) as notify_base:
        out_trade_no = order_no("S")
        created = await call(
            pay,
            pay.order.create,
            trade_type="NATIVE",
            body="lunch",
            total_fee=2_000,
            notify_url=f"{notify_base}/notify",
            client_ip="10.0.0.1",
            out_trade_no=out_trade_no,
            product_id="p1",
        )
        await control.scan(created["code_url"])
        for _ in range(300):
            if verified:
                break
            await asyncio.sleep(0.01)

    assert created["code_url"].startswith("weixin://wxpay/bizpayurl?pr=")
    assert [(n["out_trade_no"], n["total_fee"], n["result_code"]) for n in verified] == [
        (out_trade_no, 2_000, "SUCCESS")
    ]
    assert await control.ledger(out_trade_no) == [("charge", 2_000)]
