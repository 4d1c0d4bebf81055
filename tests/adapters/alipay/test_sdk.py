"""python-alipay-sdk (fzlee/alipay) against the simulator with only the gateway URL changed, verification on."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError

from adapters.alipay.client import AlipayConfig
from adapters.alipay.simulator import AlipaySimulator
from tests.support.simcontrol import SimControl, order_no


def sdk_client(config: AlipayConfig, sim_url: str, alipay_public_key: str | None = None) -> AliPay:
    client = AliPay(
        appid=config.app_id,
        app_notify_url=None,
        app_private_key_string=config.app_private_key,
        alipay_public_key_string=alipay_public_key or config.alipay_public_key,
        sign_type="RSA2",
    )
    client._gateway = f"{sim_url}/gateway.do"  # the only change: where the gateway is
    return client


@pytest.fixture
def sdk(config: AlipayConfig, sim_url: str) -> AliPay:
    return sdk_client(config, sim_url)


async def test_sdk_bar_code_pay_query_refund_cancel(sdk: AliPay, control: SimControl) -> None:
    out_trade_no = order_no()
    paid = await asyncio.to_thread(
        sdk.api_alipay_trade_pay, out_trade_no, "bar_code", await control.code("00"), "SDK 咖啡", total_amount="12.34"
    )
    assert (paid["code"], paid["total_amount"], paid["out_trade_no"]) == ("10000", "12.34", out_trade_no)
    queried = await asyncio.to_thread(sdk.api_alipay_trade_query, out_trade_no=out_trade_no)
    assert (queried["code"], queried["trade_status"], queried["trade_no"]) == (
        "10000",
        "TRADE_SUCCESS",
        paid["trade_no"],
    )
    refunded = await asyncio.to_thread(
        sdk.api_alipay_trade_refund, "2.34", out_trade_no=out_trade_no, out_request_no="SDK-R1"
    )
    assert (refunded["code"], refunded["fund_change"], refunded["refund_fee"]) == ("10000", "Y", "2.34")
    again = await asyncio.to_thread(
        sdk.api_alipay_trade_refund, "2.34", out_trade_no=out_trade_no, out_request_no="SDK-R1"
    )
    assert again["fund_change"] == "N"
    cancelled = await asyncio.to_thread(sdk.api_alipay_trade_cancel, out_trade_no=out_trade_no)
    assert cancelled["code"] == "40004" and cancelled["sub_code"] == "ACQ.TRADE_STATUS_ERROR"  # refunded: too late
    assert await control.ledger(out_trade_no) == [("charge", 1_234), ("refund", 234)]


async def test_sdk_cancel_of_a_waiting_trade(sdk: AliPay, control: SimControl) -> None:
    out_trade_no = order_no()
    waiting = await asyncio.to_thread(
        sdk.api_alipay_trade_pay, out_trade_no, "bar_code", await control.code("02"), "SDK", total_amount="5.00"
    )
    assert waiting["code"] == "10003"
    cancelled = await asyncio.to_thread(sdk.api_alipay_trade_cancel, out_trade_no=out_trade_no)
    assert (cancelled["code"], cancelled["retry_flag"], cancelled["action"]) == ("10000", "N", "close")
    assert await control.ledger(out_trade_no) == []


async def test_sdk_business_failure_comes_back_signed(sdk: AliPay, control: SimControl) -> None:
    failed = await asyncio.to_thread(
        sdk.api_alipay_trade_pay, order_no(), "bar_code", await control.code("04"), "SDK", total_amount="1.00"
    )
    assert (failed["code"], failed["sub_code"]) == ("40004", "ACQ.BUYER_BALANCE_NOT_ENOUGH")


async def test_sdk_precreate_scan_and_notification(
    sdk: AliPay, control: SimControl, simulator: AlipaySimulator
) -> None:
    out_trade_no = order_no("P")
    created = await asyncio.to_thread(
        sdk.api_alipay_trade_precreate,
        "SDK 奶茶",
        out_trade_no,
        "8.80",
        notify_url="http://127.0.0.1:9/notify",
        time_expire=(datetime.now(UTC) + timedelta(hours=8, minutes=10)).strftime("%Y-%m-%d %H:%M:%S"),
    )
    assert created["code"] == "10000" and created["qr_code"].startswith("https://qr.alipay.com/")
    before = await asyncio.to_thread(sdk.api_alipay_trade_query, out_trade_no=out_trade_no)
    assert (before["code"], before["sub_code"]) == ("40004", "ACQ.TRADE_NOT_EXIST")
    await control.scan(created["qr_code"])
    after = await asyncio.to_thread(sdk.api_alipay_trade_query, out_trade_no=out_trade_no)
    assert (after["trade_status"], after["total_amount"]) == ("TRADE_SUCCESS", "8.80")
    # The SDK's own notification check (drops sign and sign_type) accepts the simulator's notification.
    body, _ = simulator.payment_notification(simulator.bank.orders[out_trade_no]).build()
    fields = dict(parse_qsl(body.decode()))
    signature = fields.pop("sign")
    assert sdk.verify(fields, signature)
    assert not sdk.verify({**fields, "total_amount": "0.01"}, signature)


async def test_sdk_refuses_an_answer_signed_by_someone_else(
    config: AlipayConfig, sim_url: str, stranger_key: tuple[str, str]
) -> None:
    sdk = sdk_client(config, sim_url, alipay_public_key=stranger_key[1])
    with pytest.raises(AliPayValidationError):
        await asyncio.to_thread(sdk.api_alipay_trade_query, out_trade_no=order_no())


async def test_sdk_signed_with_another_key_gets_invalid_signature(
    config: AlipayConfig, sim_url: str, stranger_key: tuple[str, str]
) -> None:
    sdk = sdk_client(dataclasses.replace(config, app_private_key=stranger_key[0]), sim_url)
    with pytest.raises(AliPayException) as raised:
        await asyncio.to_thread(sdk.api_alipay_trade_query, out_trade_no=order_no())
    assert "code:40002" in str(raised.value)
    assert "isv.invalid-signature" in str(raised.value)
