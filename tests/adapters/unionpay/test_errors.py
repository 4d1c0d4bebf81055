"""Bad input on both sides and a misbehaving channel: every answer becomes a result or a typed ChannelError."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from adapters.protocol import (
    ChannelAdapter,
    ChannelUnavailable,
    MicropayRequest,
    NotificationInvalid,
    OutcomeUnknown,
    RefundRequest,
    RequestRejected,
    ResponseSignatureInvalid,
    TradeStatus,
)
from adapters.simcore.faults import Fault
from adapters.simcore.keys import load_or_create_rsa_key, public_pem
from adapters.unionpay.client import UnionpayAdapter, UnionpayConfig
from adapters.unionpay.signing import sign
from adapters.unionpay.simulator import KEY_DIR, UNIONPAY_KEY_FILE
from tests.support.servers import free_port, serve_app
from tests.support.simcontrol import SimControl, order_no

OPERATIONS = ("micropay", "unifiedorder", "queryOrder", "closeOrder", "refund", "refundQuery", "downloadBill")


def test_adapter_satisfies_the_protocol(adapter: UnionpayAdapter) -> None:
    assert isinstance(adapter, ChannelAdapter)
    assert adapter.name == "unionpay"


def test_config_repr_hides_the_private_key(config: UnionpayConfig) -> None:
    assert "PRIVATE" not in repr(config)


# ---- the simulator refuses bad requests with the channel's own codes -----------------------------------


async def test_wrong_merchant_is_refused(config: UnionpayConfig, http: httpx.AsyncClient, control: SimControl) -> None:
    adapter = UnionpayAdapter(replace(config, mer_id="777290058110049"), http)
    code = await control.code()

    with pytest.raises(RequestRejected) as raised:
        await adapter.micropay(MicropayRequest(order_no(), 100, code, "x"))

    assert raised.value.code == "31"


async def test_wrong_service_provider_key_is_a_bad_signature(
    config: UnionpayConfig, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    load_or_create_rsa_key(tmp_path / "stranger.pem")
    adapter = UnionpayAdapter(replace(config, private_key_pem=(tmp_path / "stranger.pem").read_text()), http)

    with pytest.raises(RequestRejected) as raised:
        await adapter.query(order_no())

    assert raised.value.code == "11"


GARBAGE = (b"", b"not json", b"[1, 2]", b'{"orderNo": {"a": 1}}', b'{"txnAmt": true}', b"[" * 5000, b"\xff\xfe")


async def test_garbage_gets_a_format_error_never_a_500(sim_url: str, http: httpx.AsyncClient) -> None:
    answers = {
        (operation, body): await http.post(f"{sim_url}/gateway/api/pay/{operation}", content=body)
        for operation in OPERATIONS
        for body in GARBAGE
    }

    assert {(r.status_code, r.json()["respCode"]) for r in answers.values()} == {(200, "10")}


async def test_missing_fields_are_reported(sim_url: str, http: httpx.AsyncClient) -> None:
    for operation in OPERATIONS:
        response = await http.post(f"{sim_url}/gateway/api/pay/{operation}", json={"orderNo": "A1"})

        assert (response.status_code, response.json()["respCode"]) == (200, "13"), operation


async def test_bad_field_shapes_are_format_errors(adapter: UnionpayAdapter, control: SimControl) -> None:
    code = await control.code()

    with pytest.raises(RequestRejected) as raised:
        await adapter.micropay(MicropayRequest("has space", 100, code, "x"))
    assert raised.value.code == "10"

    with pytest.raises(RequestRejected) as raised:
        await adapter.micropay(MicropayRequest(order_no(), 0, code, "x"))
    assert raised.value.code == "10"

    with pytest.raises(RequestRejected) as raised:
        await adapter.refund(RefundRequest(order_no(), order_no(), total_fen=100, refund_fen=-5))
    assert raised.value.code == "10"


# ---- the adapter refuses bad answers -----------------------------------------------------------------


async def test_answer_signed_by_someone_else(config: UnionpayConfig, http: httpx.AsyncClient, tmp_path: Path) -> None:
    impostor = public_pem(load_or_create_rsa_key(tmp_path / "impostor.pem"))
    adapter = UnionpayAdapter(replace(config, unionpay_public_key_pem=impostor), http)

    with pytest.raises(ResponseSignatureInvalid):
        await adapter.query(order_no())


async def test_nobody_listening(config: UnionpayConfig, http: httpx.AsyncClient) -> None:
    adapter = UnionpayAdapter(replace(config, base_url=f"http://127.0.0.1:{free_port()}"), http)

    with pytest.raises(ChannelUnavailable) as raised:
        await adapter.query(order_no())

    assert raised.value.code == "http_error"


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [(502, "Bad Gateway", "http_502"), (200, "<html>maintenance</html>", "unparseable"), (404, "", "unparseable")],
)
async def test_unusable_answers(
    status: int, body: str, code: str, config: UnionpayConfig, http: httpx.AsyncClient
) -> None:
    async def answer(_request: object) -> PlainTextResponse:
        return PlainTextResponse(body, status_code=status)

    broken = Starlette(routes=[Route("/gateway/api/pay/queryOrder", answer, methods=["POST"])])
    async with serve_app(broken) as url:
        adapter = UnionpayAdapter(replace(config, base_url=url), http)
        with pytest.raises(ChannelUnavailable) as raised:
            await adapter.query(order_no())

    assert raised.value.code == code


# ---- faults queued per operation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error", "code"),
    [("http_500", ChannelUnavailable, "http_500"), ("http_timeout", ChannelUnavailable, "timeout")],
)
async def test_queued_transport_faults_on_query(
    fault: str, error: type[Exception], code: str, adapter: UnionpayAdapter, control: SimControl
) -> None:
    await control.inject("query", fault)

    with pytest.raises(error) as raised:
        await adapter.query(order_no())

    assert getattr(raised.value, "code", None) == code
    assert (await adapter.query(order_no())).status is TradeStatus.NOT_FOUND  # only the next call was hit


async def test_queued_unknown_on_query_refund_and_bill(adapter: UnionpayAdapter, control: SimControl) -> None:
    code = await control.code()
    out = order_no()
    await adapter.micropay(MicropayRequest(out, 300, code, "x"))
    for operation in ("query", "refund", "refund_query", "bill"):
        await control.inject(operation, "unknown")

    with pytest.raises(OutcomeUnknown) as query_raised:
        await adapter.query(out)
    with pytest.raises(OutcomeUnknown) as refund_raised:
        await adapter.refund(RefundRequest(out, "RQ1", total_fen=300, refund_fen=300))
    with pytest.raises(OutcomeUnknown):
        await adapter.refund_query(out, "RQ1")
    with pytest.raises(OutcomeUnknown):
        await adapter.download_bill(datetime.now(UTC).date())

    assert query_raised.value.code == refund_raised.value.code == "99"
    assert await control.ledger(out) == [("charge", 300)]


async def test_queued_unknown_on_reverse_means_call_again(adapter: UnionpayAdapter, control: SimControl) -> None:
    code = await control.code(Fault.PASSWORD_TIMEOUT)
    out = order_no()
    await adapter.micropay(MicropayRequest(out, 300, code, "x"))
    await control.inject("reverse", "unknown")

    assert (await adapter.reverse(out)).retry is True
    assert (await adapter.query(out)).status is TradeStatus.PAYING
    assert (await adapter.reverse(out)).retry is False
    assert (await adapter.query(out)).status is TradeStatus.REVERSED


async def test_queued_http_500_on_micropay_moves_nothing(adapter: UnionpayAdapter, control: SimControl) -> None:
    code = await control.code()
    out = order_no()
    await control.inject("micropay", "http_500")

    with pytest.raises(ChannelUnavailable):
        await adapter.micropay(MicropayRequest(out, 300, code, "x"))

    assert await control.ledger(out) == []


# ---- notifications -----------------------------------------------------------------------------------


def unionpay_signed(var_dir: Path, fields: dict[str, str | int | None]) -> bytes:
    key = load_or_create_rsa_key(var_dir / KEY_DIR / UNIONPAY_KEY_FILE)
    return json.dumps({**fields, "signature": sign(fields, key)}).encode()


def notification_fields(config: UnionpayConfig, **changes: str) -> dict[str, str | int | None]:
    fields: dict[str, str | int | None] = {
        "serProvId": config.ser_prov_id,
        "merId": config.mer_id,
        "orderNo": "N1",
        "txnAmt": "2500",
        "transIndex": "UP2026000000001",
        "origRespCode": "00",
        "payTime": "20260101120000",
    }
    return {**fields, **changes}


def test_notification_signed_by_unionpay_is_accepted(
    adapter: UnionpayAdapter, config: UnionpayConfig, var_dir: Path
) -> None:
    notification = adapter.parse_notification(unionpay_signed(var_dir, notification_fields(config)), "application/json")

    assert notification.trade.status is TradeStatus.PAID
    assert notification.trade.paid_at == datetime(2026, 1, 1, 4, 0, tzinfo=UTC)


def test_tampered_notification(adapter: UnionpayAdapter, config: UnionpayConfig, var_dir: Path) -> None:
    body = json.loads(unionpay_signed(var_dir, notification_fields(config)))
    body["txnAmt"] = "1"

    with pytest.raises(NotificationInvalid) as raised:
        adapter.parse_notification(json.dumps(body).encode(), "application/json")

    assert raised.value.code == "signature"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"merId": "777290058110049"}, "merchant"),
        ({"serProvId": "SP1"}, "merchant"),
        ({"origRespCode": "77"}, "format"),
    ],
)
def test_notification_for_someone_else_or_unreadable(
    changes: dict[str, str], code: str, adapter: UnionpayAdapter, config: UnionpayConfig, var_dir: Path
) -> None:
    body = unionpay_signed(var_dir, notification_fields(config, **changes))

    with pytest.raises(NotificationInvalid) as raised:
        adapter.parse_notification(body, "application/json")

    assert raised.value.code == code


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"orderNo=N1&txnAmt=2500", "application/x-www-form-urlencoded"), (b"{broken", None), (b"[]", "application/json")],
)
def test_notification_that_is_not_a_json_object(
    body: bytes, content_type: str | None, adapter: UnionpayAdapter
) -> None:
    with pytest.raises(NotificationInvalid):
        adapter.parse_notification(body, content_type)
