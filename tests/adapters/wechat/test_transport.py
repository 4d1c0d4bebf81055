"""The adapter's transport: queued operation faults, signatures, sign types, certificates, mounting."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.routing import Mount

from adapters.protocol import (
    ChannelAdapter,
    ChannelUnavailable,
    OutcomeUnknown,
    PrecreateRequest,
    RefundRequest,
    RequestRejected,
    ResponseSignatureInvalid,
    TradeStatus,
)
from adapters.simcore.faults import OperationFault
from adapters.wechat.client import WechatAdapter, WechatConfig
from adapters.wechat.signing import SignType, signed
from adapters.wechat.simulator import WechatSimulator, adapter_config
from adapters.wechat.wire import BEIJING, decode_xml, encode_xml
from tests.adapters.refund_support import settled_ledger
from tests.adapters.wechat.conftest import micropay_request
from tests.support.servers import free_port, serve_app
from tests.support.simcontrol import SimControl, order_no, rewriting_proxy

Operation = Callable[[WechatAdapter, str], Awaitable[object]]

OPERATIONS: dict[str, Operation] = {
    "micropay": lambda adapter, no: adapter.micropay(micropay_request("134567890123456700", out_trade_no=no)),
    "precreate": lambda adapter, no: adapter.precreate(
        PrecreateRequest(no, 100, "x", "http://127.0.0.1:9/notify", datetime.now(UTC) + timedelta(minutes=5))
    ),
    "query": lambda adapter, no: adapter.query(no),
    "reverse": lambda adapter, no: adapter.reverse(no),
    "close": lambda adapter, no: adapter.close(no),
    "refund": lambda adapter, no: adapter.refund(RefundRequest(no, "R1", 1_234, 100)),
    "refund_query": lambda adapter, no: adapter.refund_query(no, "R1"),
    "download_bill": lambda adapter, no: adapter.download_bill(datetime.now(BEIJING).date()),
}


def test_adapter_satisfies_the_protocol(adapter: WechatAdapter) -> None:
    assert isinstance(adapter, ChannelAdapter)
    assert adapter.name == "wechat"


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_queued_http_500_is_unavailable(
    operation: str, adapter: WechatAdapter, control: SimControl, simulator: WechatSimulator
) -> None:
    await control.inject(operation, OperationFault.HTTP_500.value)

    with pytest.raises(ChannelUnavailable) as raised:
        await OPERATIONS[operation](adapter, order_no())

    assert raised.value.code == "HTTP_500"
    assert simulator.bank.ledger == []


@pytest.mark.parametrize("operation", OPERATIONS)
async def test_queued_unknown_is_outcome_unknown(
    operation: str, adapter: WechatAdapter, control: SimControl, simulator: WechatSimulator
) -> None:
    await control.inject(operation, OperationFault.UNKNOWN.value)

    if operation == "reverse":  # WeChat's SYSTEMERROR on reverse comes with recall=Y: call it again
        assert (await adapter.reverse(order_no())).retry is True
    else:
        with pytest.raises(OutcomeUnknown) as raised:
            await OPERATIONS[operation](adapter, order_no())
        assert raised.value.code == "SYSTEMERROR"
    assert simulator.bank.ledger == []


@pytest.mark.parametrize("operation", ["micropay", "query", "refund", "download_bill"])
async def test_queued_timeout_is_unavailable(
    operation: str, impatient_adapter: WechatAdapter, control: SimControl, simulator: WechatSimulator
) -> None:
    await control.inject(operation, OperationFault.HTTP_TIMEOUT.value)

    with pytest.raises(ChannelUnavailable) as raised:
        await OPERATIONS[operation](impatient_adapter, order_no())

    assert raised.value.code == "NETWORK"
    assert simulator.bank.ledger == []


async def test_queued_fault_hits_only_the_next_call(adapter: WechatAdapter, control: SimControl) -> None:
    request = micropay_request(await control.code("00"))
    await adapter.micropay(request)
    await control.inject("query", OperationFault.HTTP_500.value)

    with pytest.raises(ChannelUnavailable):
        await adapter.query(request.out_trade_no)
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.PAID


async def test_wrong_api_key_is_refused_by_the_simulator(
    config: WechatConfig, http: httpx.AsyncClient, control: SimControl
) -> None:
    adapter = WechatAdapter(dataclasses.replace(config, api_key="x" * 32), http)
    request = micropay_request(await control.code("00"))

    with pytest.raises(RequestRejected) as raised:
        await adapter.micropay(request)

    assert raised.value.message == "签名错误"
    assert await control.ledger(request.out_trade_no) == []


@pytest.mark.parametrize(
    ("misconfigure", "message"),
    [
        (lambda config: dataclasses.replace(config, appid="wx0000000000000000"), "appid和mch_id不匹配"),
        (lambda config: dataclasses.replace(config, mch_id="1900000109"), "MCHID不存在"),
    ],
)
async def test_wrong_merchant_ids_are_refused(
    misconfigure: Callable[[WechatConfig], WechatConfig], message: str, config: WechatConfig, http: httpx.AsyncClient
) -> None:
    adapter = WechatAdapter(misconfigure(config), http)

    with pytest.raises(RequestRejected) as raised:
        await adapter.query(order_no())

    assert raised.value.message == message


async def test_answer_with_broken_signature_is_not_trusted(
    sim_url: str, config: WechatConfig, http: httpx.AsyncClient, control: SimControl
) -> None:
    def double_the_amount(body: bytes) -> bytes:
        return re.sub(rb"<total_fee>(\d+)</total_fee>", lambda m: b"<total_fee>%d</total_fee>" % (int(m[1]) * 2), body)

    async with rewriting_proxy(sim_url, double_the_amount, http, "text/xml") as proxy_url:
        adapter = WechatAdapter(dataclasses.replace(config, base_url=proxy_url), http)
        request = micropay_request(await control.code("00"))
        with pytest.raises(ResponseSignatureInvalid) as raised:
            await adapter.micropay(request)

    assert raised.value.outcome_unknown and not raised.value.retry_safe
    assert await control.ledger(request.out_trade_no) == [("charge", request.amount_fen)]


async def test_signed_answer_for_another_amount_is_not_taken_as_paid(
    sim_url: str, config: WechatConfig, http: httpx.AsyncClient, control: SimControl
) -> None:
    """Even a correctly signed answer is not believed when it reports a different amount than was charged."""

    def resign_with_other_amount(body: bytes) -> bytes:
        fields = {**decode_xml(body), "total_fee": "1"}
        return encode_xml(signed(fields, config.api_key, SignType.MD5))

    async with rewriting_proxy(sim_url, resign_with_other_amount, http, "text/xml") as proxy_url:
        adapter = WechatAdapter(dataclasses.replace(config, base_url=proxy_url), http)
        with pytest.raises(OutcomeUnknown) as raised:
            await adapter.micropay(micropay_request(await control.code("00"), amount_fen=500))

    assert raised.value.code == "TOTAL_FEE_MISMATCH"


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b"", b"<xml><return_code>SUCC", b"\xff\xfe"])
async def test_unparseable_answer_is_unavailable(
    body: bytes, sim_url: str, config: WechatConfig, http: httpx.AsyncClient
) -> None:
    async with rewriting_proxy(sim_url, lambda _: body, http, "text/xml") as proxy_url:
        adapter = WechatAdapter(dataclasses.replace(config, base_url=proxy_url), http)
        with pytest.raises(ChannelUnavailable) as raised:
            await adapter.query(order_no())

    assert raised.value.code == "UNPARSEABLE"


async def test_nobody_listening_is_unavailable(config: WechatConfig, http: httpx.AsyncClient) -> None:
    adapter = WechatAdapter(dataclasses.replace(config, base_url=f"http://127.0.0.1:{free_port()}"), http)

    with pytest.raises(ChannelUnavailable) as raised:
        await adapter.query(order_no())

    assert raised.value.code == "NETWORK"


async def test_hmac_sha256_merchant(config: WechatConfig, http: httpx.AsyncClient, control: SimControl) -> None:
    adapter = WechatAdapter(dataclasses.replace(config, sign_type="HMAC-SHA256"), http)
    request = micropay_request(await control.code("00"))

    assert (await adapter.micropay(request)).status is TradeStatus.PAID
    assert (await adapter.query(request.out_trade_no)).status is TradeStatus.PAID
    assert await control.ledger(request.out_trade_no) == [("charge", request.amount_fen)]


def throwaway_certificate(directory: Path) -> tuple[str, str]:
    """A self-signed client certificate and key, standing in for apiclient_cert.pem / apiclient_key.pem."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "10000100")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "apiclient_cert.pem", directory / "apiclient_key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


async def test_certificate_calls_work_with_a_configured_certificate(
    tmp_path: Path, config: WechatConfig, http: httpx.AsyncClient, control: SimControl
) -> None:
    """The simulator is plain HTTP and ignores the certificate; the adapter still loads it and calls through it."""
    cert_path, key_path = throwaway_certificate(tmp_path)
    adapter = WechatAdapter(dataclasses.replace(config, client_cert_path=cert_path, client_key_path=key_path), http)
    paid = micropay_request(await control.code("00"), amount_fen=1_000)
    paying = micropay_request(await control.code("02"))
    await adapter.micropay(paid)
    await adapter.micropay(paying)

    try:
        refund = await adapter.refund(RefundRequest(paid.out_trade_no, "R1", 1_000, 400))
        reverse = await adapter.reverse(paying.out_trade_no)
    finally:
        await adapter.aclose()

    assert (refund.refund_fen, reverse.retry) == (400, False)
    assert await settled_ledger(control, paid.out_trade_no) == [("charge", 1_000), ("refund", 400)]
    assert (await WechatAdapter(config, http).query(paying.out_trade_no)).status is TradeStatus.REVERSED


async def test_simulator_mounted_under_a_prefix(simulator: WechatSimulator, tmp_path: Path) -> None:
    """The gateway mounts the simulator at /sim/wechat; WeChat's paths and the control API work below it."""
    host = Starlette(routes=[Mount("/sim/wechat", app=simulator.app)])
    async with serve_app(host, lifespan="off") as url, httpx.AsyncClient() as http:
        base_url = f"{url}/sim/wechat"
        adapter = WechatAdapter(adapter_config(tmp_path, base_url), http)
        control = SimControl(http, base_url)
        request = micropay_request(await control.code("00"))
        assert (await adapter.micropay(request)).status is TradeStatus.PAID
        native = PrecreateRequest(
            order_no(), 100, "x", "http://127.0.0.1:9/n", datetime.now(UTC) + timedelta(minutes=5)
        )
        scanned = await control.scan((await adapter.precreate(native)).code_url)

        assert scanned.status_code == 200
        assert await control.ledger(request.out_trade_no) == [("charge", request.amount_fen)]
        assert await control.ledger(native.out_trade_no) == [("charge", 100)]
