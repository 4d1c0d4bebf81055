"""Bad input on both sides: signatures, app ids, missing fields, queued faults, tampered answers and notifications."""

from __future__ import annotations

import dataclasses
import json
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest

from adapters.alipay.client import AlipayAdapter, AlipayConfig
from adapters.alipay.simulator import AlipaySimulator
from adapters.alipay.wire import FORM_CONTENT_TYPE, GATEWAY_PATH
from adapters.protocol import (
    ChannelError,
    ChannelUnavailable,
    NotificationInvalid,
    OutcomeUnknown,
    RequestRejected,
    ResponseSignatureInvalid,
    TradeStatus,
)
from tests.adapters.alipay.conftest import micropay_request, precreate_request, raw_call, signed_params
from tests.support.servers import free_port
from tests.support.simcontrol import NotifyReceiver, SimControl, order_no, rewriting_proxy

# ---- the simulator rejects bad requests with Alipay's own codes ------------------------------------


async def test_request_signed_with_another_key_is_rejected(
    config: AlipayConfig, http: httpx.AsyncClient, control: SimControl, stranger_key: tuple[str, str]
) -> None:
    adapter = AlipayAdapter(dataclasses.replace(config, app_private_key=stranger_key[0]), http)
    request = micropay_request(await control.code("00"))
    with pytest.raises(RequestRejected) as raised:
        await adapter.micropay(request)
    assert raised.value.code == "isv.invalid-signature"
    assert await control.ledger(request.out_trade_no) == []


async def test_wrong_app_id_is_rejected(config: AlipayConfig, http: httpx.AsyncClient, control: SimControl) -> None:
    adapter = AlipayAdapter(dataclasses.replace(config, app_id="2021999999999999"), http)
    request = micropay_request(await control.code("00"))
    with pytest.raises(RequestRejected) as raised:
        await adapter.micropay(request)
    assert raised.value.code == "isv.invalid-app-id"
    assert await control.ledger(request.out_trade_no) == []


@pytest.mark.parametrize(
    ("missing", "sub_code"),
    [
        ("method", "isv.missing-method"),
        ("app_id", "isv.missing-app-id"),
        ("sign_type", "isv.missing-signature-type"),
        ("sign", "isv.missing-signature"),
        ("timestamp", "isv.missing-timestamp"),
        ("version", "isv.missing-version"),
    ],
)
async def test_missing_common_parameter_is_40001(
    config: AlipayConfig, http: httpx.AsyncClient, sim_url: str, missing: str, sub_code: str
) -> None:
    params = signed_params(config, "alipay.trade.query", {"out_trade_no": "x"})
    del params[missing]
    answer = await raw_call(http, sim_url, params)
    body = answer["error_response"]
    assert (body["code"], body["msg"], body["sub_code"]) == ("40001", "Missing Required Arguments", sub_code)
    assert "sign" not in answer  # the gateway does not sign for a caller it could not authenticate


@pytest.mark.parametrize(
    ("override", "sub_code"),
    [
        ({"method": "alipay.trade.teleport"}, "isv.invalid-method"),
        ({"sign_type": "RSA"}, "isv.invalid-signature-type"),
        ({"charset": "GBK"}, "isv.invalid-charset"),
        ({"format": "XML"}, "isv.invalid-format"),
        ({"timestamp": "yesterday"}, "isv.invalid-timestamp"),
    ],
)
async def test_invalid_common_parameter_is_40002(
    config: AlipayConfig, http: httpx.AsyncClient, sim_url: str, override: dict[str, str], sub_code: str
) -> None:
    answer = await raw_call(
        http, sim_url, signed_params(config, "alipay.trade.query", {"out_trade_no": "x"}, **override)
    )
    assert (answer["error_response"]["code"], answer["error_response"]["sub_code"]) == ("40002", sub_code)


async def test_tampered_parameter_breaks_the_signature(
    config: AlipayConfig, http: httpx.AsyncClient, sim_url: str
) -> None:
    params = signed_params(config, "alipay.trade.refund", {"out_trade_no": "x", "refund_amount": "1.00"})
    params["biz_content"] = params["biz_content"].replace("1.00", "9.00")
    answer = await raw_call(http, sim_url, params)
    assert answer["error_response"]["sub_code"] == "isv.invalid-signature"


@pytest.mark.parametrize(
    ("biz", "sub_code"),
    [
        ({"out_trade_no": "x", "scene": "bar_code", "subject": "s", "total_amount": "1.00"}, "ACQ.INVALID_PARAMETER"),
        (
            {"out_trade_no": "x", "scene": "bar_code", "auth_code": "281234567890123400", "subject": "s"},
            "ACQ.INVALID_PARAMETER",
        ),
        (
            {
                "out_trade_no": "x",
                "scene": "face",
                "auth_code": "281234567890123400",
                "subject": "s",
                "total_amount": "1",
            },
            "ACQ.INVALID_PARAMETER",
        ),
        (
            {
                "out_trade_no": "x",
                "scene": "bar_code",
                "auth_code": "281234567890123400",
                "subject": "s",
                "total_amount": "1.234",
            },
            "ACQ.INVALID_PARAMETER",
        ),
        (
            {
                "out_trade_no": "x",
                "scene": "bar_code",
                "auth_code": "281234567890123400",
                "subject": "s",
                "total_amount": "-1",
            },
            "ACQ.INVALID_PARAMETER",
        ),
        (
            {
                "out_trade_no": "x",
                "scene": "bar_code",
                "auth_code": "281234567890123400",
                "subject": "s",
                "total_amount": "0.00",
            },
            "ACQ.INVALID_PARAMETER",
        ),
        (
            {
                "out_trade_no": "x",
                "scene": "bar_code",
                "auth_code": "281234567890123400",
                "subject": "s",
                "total_amount": "100000000.01",
            },
            "ACQ.TOTAL_FEE_EXCEED",
        ),
        (
            {"out_trade_no": "x", "scene": "bar_code", "auth_code": ["28"], "subject": "s", "total_amount": "1"},
            "ACQ.INVALID_PARAMETER",
        ),
    ],
)
async def test_bad_business_fields_are_refused_signed_and_charge_nothing(
    config: AlipayConfig,
    http: httpx.AsyncClient,
    sim_url: str,
    simulator: AlipaySimulator,
    biz: dict[str, object],
    sub_code: str,
) -> None:
    answer = await raw_call(http, sim_url, signed_params(config, "alipay.trade.pay", biz))
    body = answer["alipay_trade_pay_response"]
    assert (body["code"], body["sub_code"]) == ("40004", sub_code)
    assert "sign" in answer
    assert simulator.bank.ledger == []


async def test_amount_as_a_json_number_is_understood(
    config: AlipayConfig, http: httpx.AsyncClient, sim_url: str, control: SimControl
) -> None:
    out_trade_no = order_no()
    biz = {
        "out_trade_no": out_trade_no,
        "scene": "bar_code",
        "auth_code": await control.code(),
        "subject": "s",
        "total_amount": 12.5,
    }
    answer = await raw_call(http, sim_url, signed_params(config, "alipay.trade.pay", biz))
    assert answer["alipay_trade_pay_response"]["total_amount"] == "12.50"
    assert await control.ledger(out_trade_no) == [("charge", 1_250)]


@pytest.mark.parametrize(
    "content",
    [b"", b"\xff\xfe\x00garbage", b"biz_content=%FF%FE", b"method=alipay.trade.pay", b"a=b&&&=&"],
)
async def test_garbage_never_gets_a_500(http: httpx.AsyncClient, sim_url: str, content: bytes) -> None:
    response = await http.post(sim_url + GATEWAY_PATH, content=content, headers={"Content-Type": FORM_CONTENT_TYPE})
    assert response.status_code == 200
    assert json.loads(response.text)["error_response"]["code"] in ("40001", "40002")


async def test_biz_content_that_is_not_an_object(config: AlipayConfig, http: httpx.AsyncClient, sim_url: str) -> None:
    params = signed_params(config, "alipay.trade.query", {}, biz_content="[1, 2]")
    answer = await raw_call(http, sim_url, params)
    assert answer["alipay_trade_query_response"]["sub_code"] == "ACQ.INVALID_PARAMETER"


# ---- the adapter trusts nothing it cannot verify ------------------------------------------------------


async def test_answer_signed_by_someone_else_is_not_trusted(
    config: AlipayConfig, http: httpx.AsyncClient, control: SimControl, stranger_key: tuple[str, str]
) -> None:
    adapter = AlipayAdapter(dataclasses.replace(config, alipay_public_key=stranger_key[1]), http)
    request = micropay_request(await control.code("00"))
    with pytest.raises(ResponseSignatureInvalid) as raised:
        await adapter.micropay(request)
    assert raised.value.outcome_unknown  # the charge did happen: only a verified query may tell
    assert await control.ledger(request.out_trade_no) == [("charge", 1_234)]


async def test_tampered_answer_is_not_trusted(
    config: AlipayConfig, http: httpx.AsyncClient, sim_url: str, control: SimControl
) -> None:
    async with rewriting_proxy(
        sim_url, lambda body: body.replace(b'"12.34"', b'"0.01"'), http, "application/json"
    ) as proxy:
        adapter = AlipayAdapter(dataclasses.replace(config, base_url=proxy), http)
        with pytest.raises(ResponseSignatureInvalid):
            await adapter.micropay(micropay_request(await control.code("00")))


async def test_unsigned_business_answer_is_not_trusted(
    config: AlipayConfig, http: httpx.AsyncClient, sim_url: str, control: SimControl
) -> None:
    def strip_sign(body: bytes) -> bytes:
        return body[: body.rindex(b',"sign"')] + b"}"

    async with rewriting_proxy(sim_url, strip_sign, http, "application/json") as proxy:
        adapter = AlipayAdapter(dataclasses.replace(config, base_url=proxy), http)
        with pytest.raises(ResponseSignatureInvalid) as raised:
            await adapter.query(order_no())
        assert raised.value.code == "missing-sign"


@pytest.mark.parametrize(
    "body", [b"<html>502 Bad Gateway</html>", b'{"alipay_trade_query_response":', b'{"other":{}}', b"\xff"]
)
async def test_unparseable_answer_is_unavailable(
    config: AlipayConfig, http: httpx.AsyncClient, sim_url: str, body: bytes
) -> None:
    async with rewriting_proxy(sim_url, lambda _: body, http, "application/json") as proxy:
        adapter = AlipayAdapter(dataclasses.replace(config, base_url=proxy), http)
        with pytest.raises(ChannelUnavailable) as raised:
            await adapter.query(order_no())
        assert raised.value.code == "malformed-answer"


async def test_nobody_listening_is_unavailable(config: AlipayConfig, http: httpx.AsyncClient) -> None:
    adapter = AlipayAdapter(dataclasses.replace(config, base_url=f"http://127.0.0.1:{free_port()}"), http)
    with pytest.raises(ChannelUnavailable) as raised:
        await adapter.query(order_no())
    assert raised.value.code == "transport"


# ---- queued operation faults --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [
        ("http_500", ChannelUnavailable, "http-500"),
        ("http_timeout", ChannelUnavailable, "timeout"),
        ("unknown", OutcomeUnknown, "ACQ.SYSTEM_ERROR"),
    ],
)
async def test_query_faults(
    impatient_adapter: AlipayAdapter,
    adapter: AlipayAdapter,
    control: SimControl,
    fault: str,
    error: type[ChannelError],
    code: str,
) -> None:
    request = micropay_request(await control.code("00"))
    await adapter.micropay(request)
    await control.inject("query", fault)
    with pytest.raises(error) as raised:
        await impatient_adapter.query(request.out_trade_no)
    assert raised.value.code == code
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.PAID


async def test_queued_micropay_unknown_is_20000_and_charges_nothing(
    adapter: AlipayAdapter, control: SimControl
) -> None:
    request = micropay_request(await control.code("00"))
    await control.inject("micropay", "unknown")
    with pytest.raises(OutcomeUnknown) as raised:
        await adapter.micropay(request)
    assert raised.value.code == "isp.unknow-error"
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.NOT_FOUND
    assert await control.ledger(request.out_trade_no) == []


async def test_queued_micropay_answer_lost_charged_and_found_by_query(
    adapter: AlipayAdapter, control: SimControl
) -> None:
    request = micropay_request(await control.code("00"))
    await control.inject("micropay", "answer_lost")
    with pytest.raises(OutcomeUnknown) as raised:
        await adapter.micropay(request)
    assert raised.value.code == "isp.unknow-error"
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.PAID
    assert await control.ledger(request.out_trade_no) == [("charge", 1_234)]


@pytest.mark.parametrize("fault", ["answer_lost", "unknown"])
async def test_read_only_operations_answer_unknown(adapter: AlipayAdapter, control: SimControl, fault: str) -> None:
    await control.inject("query", fault)
    with pytest.raises(OutcomeUnknown) as raised:
        await adapter.query(order_no())
    assert raised.value.code == "ACQ.SYSTEM_ERROR"


async def test_cancel_faults(adapter: AlipayAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("00"))
    await adapter.micropay(request)
    await control.inject("reverse", "unknown")
    assert (await adapter.reverse(request.out_trade_no)).retry is True  # ACQ.SYSTEM_ERROR with retry_flag=Y
    await control.inject("reverse", "http_500")
    with pytest.raises(ChannelUnavailable):
        await adapter.reverse(request.out_trade_no)
    assert await control.ledger(request.out_trade_no) == [("charge", 1_234)]
    result = await adapter.reverse(request.out_trade_no)
    assert (result.retry, result.action) == (False, "refund")
    assert await control.ledger(request.out_trade_no) == [("charge", 1_234), ("reversal", 1_234)]


async def test_close_and_precreate_faults(
    adapter: AlipayAdapter, control: SimControl, receiver: NotifyReceiver
) -> None:
    request = micropay_request(await control.code("02"))
    await adapter.micropay(request)
    await control.inject("close", "unknown")
    with pytest.raises(OutcomeUnknown):
        await adapter.close(request.out_trade_no)
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.WAITING
    await control.inject("precreate", "http_500")
    with pytest.raises(ChannelUnavailable):
        await adapter.precreate(precreate_request(receiver.url))


# ---- notifications ------------------------------------------------------------------------------------


async def _a_notification(adapter: AlipayAdapter, control: SimControl, simulator: AlipaySimulator) -> bytes:
    """The body of a genuine notification for a freshly paid dynamic order."""
    request = precreate_request("http://127.0.0.1:9/notify")
    await control.scan((await adapter.precreate(request)).code_url)
    body, _ = simulator.payment_notification(simulator.bank.orders[request.out_trade_no]).build()
    return body


def _rewritten(body: bytes, **changes: str | None) -> bytes:
    fields = dict(parse_qsl(body.decode()))
    for name, value in changes.items():
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    return urlencode(fields).encode()


async def test_genuine_notification_parses(
    adapter: AlipayAdapter, control: SimControl, simulator: AlipaySimulator
) -> None:
    body = await _a_notification(adapter, control, simulator)
    notification = adapter.parse_notification(body, FORM_CONTENT_TYPE)
    assert notification.trade.status is TradeStatus.PAID
    assert notification.trade.amount_fen == 2_500


@pytest.mark.parametrize(
    "changes",
    [
        {"total_amount": "0.01"},
        {"app_id": "2021999999999999"},
        {"sign_type": None},
        {"sign": None},
        {"sign_type": "RSA"},
    ],
)
async def test_forged_notification_is_rejected(
    adapter: AlipayAdapter, control: SimControl, simulator: AlipaySimulator, changes: dict[str, str | None]
) -> None:
    body = await _a_notification(adapter, control, simulator)
    with pytest.raises(NotificationInvalid):
        adapter.parse_notification(_rewritten(body, **changes), FORM_CONTENT_TYPE)


async def test_notification_in_another_shape_is_rejected(
    adapter: AlipayAdapter, control: SimControl, simulator: AlipaySimulator
) -> None:
    body = await _a_notification(adapter, control, simulator)
    with pytest.raises(NotificationInvalid):
        adapter.parse_notification(body, "application/json")
    with pytest.raises(NotificationInvalid):
        adapter.parse_notification(b"\xff\xfe", FORM_CONTENT_TYPE)


def test_acknowledgements(adapter: AlipayAdapter) -> None:
    assert adapter.notification_ack(True).body == b"success"
    assert adapter.notification_ack(False).body == b"fail"
