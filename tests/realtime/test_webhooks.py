"""Merchant webhooks over real HTTP: signed POSTs, retries until a 2xx, attempts in the merchant API, SSRF rules."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.config import Settings
from gateway.domain.errors import InvalidInput
from gateway.runtime import master_secret
from gateway.services.credentials import SecretBox
from gateway.services.webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    WEBHOOK_JOB,
    WebhookService,
    check_webhook_url,
    parse_webhook_url,
    post_pinned,
    resolve_webhook_host,
    verify_webhook_signature,
    webhook_signature,
)
from tests.support.events import event_socket
from tests.support.live import LiveGateway, live_gateway
from tests.support.servers import serve_app

#: Retries 1 s apart before time_scale (0.05): attempts come about 50 ms apart.
FAST_LADDER = [1.0, 1.0, 1.0, 1.0]


@dataclass
class Receiver:
    """A merchant's server answering with `statuses` in turn (the last one from then on)."""

    statuses: list[int]
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def notify(self, request: Request) -> Response:
        self.received.append((dict(request.headers), await request.body()))
        return Response(status_code=self.statuses[min(len(self.received), len(self.statuses)) - 1])


@pytest.fixture
async def fast_live(settings: Settings) -> AsyncIterator[LiveGateway]:
    async with live_gateway(settings, webhook_retry_s=FAST_LADDER) as gateway:
        yield gateway


@dataclass
class FakeResolver:
    """A DNS that answers `answers` for every name, whatever the real one says, and notes what it was asked."""

    answers: list[str]
    lookups: list[str] = field(default_factory=list)

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return list(self.answers)


@dataclass
class TlsReceiver:
    """A TLS server on loopback with a self-signed certificate for one host name, and a client context trusting it;
    it answers 204 and notes each request's SNI name and Host header."""

    port: int
    client_context: ssl.SSLContext
    seen: list[tuple[str | None, str]] = field(default_factory=list)


def self_signed_certificate(host_name: str) -> tuple[bytes, bytes]:
    """PEM certificate (its only name: `host_name`) and PEM key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host_name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


@contextlib.asynccontextmanager
async def serve_tls_receiver(tmp_path: Path, host_name: str) -> AsyncIterator[TlsReceiver]:
    certificate_pem, key_pem = self_signed_certificate(host_name)
    (tmp_path / "cert.pem").write_bytes(certificate_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server_names: list[str | None] = []
    server_context.sni_callback = lambda _socket, server_name, _context: server_names.append(server_name)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
        headers = {key.lower(): value for key, value in headers.items()}
        await reader.readexactly(int(headers.get("content-length", "0")))
        receiver.seen.append((server_names[-1] if server_names else None, headers["host"]))
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_context)
    receiver = TlsReceiver(
        server.sockets[0].getsockname()[1], ssl.create_default_context(cadata=certificate_pem.decode())
    )
    async with server:
        yield receiver


async def serve_receiver(receiver: Receiver) -> Any:
    return serve_app(Starlette(routes=[Route("/notify", receiver.notify, methods=["POST"])]), lifespan="off")


async def register(live: LiveGateway, url: str) -> httpx.Response:
    return await live.http.put(f"{live.url}/v1/webhook", json={"url": url}, headers=_merchant(live))


def _merchant(live: LiveGateway) -> dict[str, str]:
    return {"X-API-Key": live.credentials["api_key"]}


async def deliveries(live: LiveGateway) -> list[dict[str, Any]]:
    response = await live.http.get(f"{live.url}/v1/webhook/deliveries", headers=_merchant(live))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def settled(live: LiveGateway) -> list[dict[str, Any]]:
    for _ in range(400):
        items = await deliveries(live)
        if items and all(item["status"] != "pending" for item in items):
            return items
        await asyncio.sleep(0.05)
    raise AssertionError(f"deliveries still pending: {items}")


async def test_a_receiver_failing_three_times_gets_the_event_once_per_attempt_until_its_2xx(
    fast_live: LiveGateway,
) -> None:
    live = fast_live
    receiver = Receiver([500, 503, 404, 200])
    async with await serve_receiver(receiver) as receiver_url:
        registered = await register(live, f"{receiver_url}/notify")
        assert registered.status_code == 200, registered.text
        secret = registered.json()["secret"]
        async with event_socket(live.url, live.terminal, after=0) as socket:
            paid = await live.terminal.micropay(1250, "W1", await live.payment_code("unionpay"))
            assert paid.status_code == 200, paid.text
            pushed = await socket.receive()
        [delivery] = await settled(live)
        # Ten ladder steps later nothing more has come: the gateway stopped at the 2xx.
        await asyncio.sleep(10 * FAST_LADDER[0] * live.runtime.settings.time_scale)

    assert len(receiver.received) == 4
    bodies = {body for _, body in receiver.received}
    assert len(bodies) == 1  # the same event each time
    event = json.loads(bodies.pop())
    assert event["id"] == pushed["id"] == delivery["event_id"]  # one stable id for de-duplication
    assert (event["type"], event["order_id"], event["data"]["status"]) == (
        "order.paid",
        paid.json()["order_id"],
        "PAID",
    )
    for headers, body in receiver.received:
        assert headers[EVENT_ID_HEADER.lower()] == event["id"]
        assert headers["content-type"] == "application/json"
        assert verify_webhook_signature(secret, headers[SIGNATURE_HEADER.lower()], body)
        assert not verify_webhook_signature("whsec_other", headers[SIGNATURE_HEADER.lower()], body)
    assert delivery["status"] == "delivered" and delivery["next_attempt_at"] is None
    assert [(a["number"], a["status_code"]) for a in delivery["attempts"]] == [(1, 500), (2, 503), (3, 404), (4, 200)]
    assert [a["error"] for a in delivery["attempts"]] == ["HTTP 500", "HTTP 503", "HTTP 404", None]


async def test_the_gateway_gives_up_when_the_ladder_runs_out(settings: Settings) -> None:
    receiver = Receiver([500])
    async with (
        live_gateway(settings, webhook_retry_s=[1.0, 1.0]) as live,
        await serve_receiver(receiver) as receiver_url,
    ):
        assert (await register(live, f"{receiver_url}/notify")).status_code == 200
        paid = await live.terminal.micropay(300, "W2", await live.payment_code("wechat"))
        assert paid.status_code == 200, paid.text
        [delivery] = await settled(live)
    assert delivery["status"] == "failed"
    assert len(delivery["attempts"]) == len(receiver.received) == 3  # the first try and one per ladder step


async def test_an_unreachable_receiver_is_recorded_and_retried(fast_live: LiveGateway) -> None:
    live = fast_live
    receiver = Receiver([200])
    async with await serve_receiver(receiver) as receiver_url:
        pass  # the port is free again: nothing listens there now
    assert (await register(live, f"{receiver_url}/notify")).status_code == 200
    paid = await live.terminal.micropay(300, "W3", await live.payment_code("alipay"))
    assert paid.status_code == 200, paid.text
    [delivery] = await settled(live)
    assert delivery["status"] == "failed"
    assert len(delivery["attempts"]) == len(FAST_LADDER) + 1
    assert all(a["status_code"] is None and a["error"].startswith("ConnectError") for a in delivery["attempts"])


async def test_the_notify_url_is_set_read_and_removed(live: LiveGateway) -> None:
    headers = _merchant(live)
    missing = await live.http.get(f"{live.url}/v1/webhook", headers=headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "webhook_not_set")
    first = (await register(live, "http://127.0.0.1:9/notify")).json()
    second = (await register(live, "https://127.0.0.1:9/v2")).json()
    assert first["secret"].startswith("whsec_") and first["secret"] != second["secret"]
    shown = (await live.http.get(f"{live.url}/v1/webhook", headers=headers)).json()
    assert (shown["url"], shown["secret"]) == ("https://127.0.0.1:9/v2", None)
    assert (await live.http.delete(f"{live.url}/v1/webhook", headers=headers)).status_code == 204
    assert (await live.http.get(f"{live.url}/v1/webhook", headers=headers)).status_code == 404
    assert (await live.http.delete(f"{live.url}/v1/webhook", headers=headers)).status_code == 404
    anonymous = await live.http.put(f"{live.url}/v1/webhook", json={"url": "http://127.0.0.1:9/"})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "missing_api_key")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://shop.example.com/notify",
        "javascript:alert(1)",
        "http:///no-host",
        "https://user:pw@shop.example.com/",
        "notify",
        "http://shop.example.com:99999/",
    ],
)
async def test_notify_urls_must_be_http_with_a_host(live: LiveGateway, url: str) -> None:
    response = await register(live, url)
    assert (response.status_code, response.json()["code"]) == (422, "invalid_webhook_url")
    assert (await live.http.get(f"{live.url}/v1/webhook", headers=_merchant(live))).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/notify",
        "http://localhost:8080/notify",
        "http://10.1.2.3/notify",
        "http://192.168.0.10/notify",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/notify",
        "http://[::ffff:127.0.0.1]/notify",
        "http://100.64.0.1/notify",
        "http://0.0.0.0/notify",
    ],
)
async def test_outside_dev_mode_private_and_loopback_targets_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        await check_webhook_url(url, allow_private=False)
    assert refused.value.code == "webhook_url_not_allowed"
    await check_webhook_url(url, allow_private=True)  # dev mode: local receivers are fine


async def test_public_addresses_pass_the_ssrf_check() -> None:
    await check_webhook_url("https://93.184.215.14/notify", allow_private=False)
    await check_webhook_url("http://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8443/n", allow_private=False)


async def test_the_merchant_api_refuses_a_loopback_url_outside_dev_mode(
    client: httpx.AsyncClient, runtime: Any
) -> None:
    merchant = await runtime.merchants.create_merchant("Prod shop")
    headers = {"X-API-Key": merchant.api_key}
    response = await client.put("/v1/webhook", json={"url": "http://127.0.0.1:8000/hook"}, headers=headers)
    assert (response.status_code, response.json()["code"]) == (422, "webhook_url_not_allowed")
    assert (await client.get("/v1/webhook", headers=headers)).status_code == 404
    extra = await client.put("/v1/webhook", json={"url": "https://93.184.215.14/", "x": 1}, headers=headers)
    assert (extra.status_code, extra.json()["code"]) == (422, "validation_error")


def test_signatures_cover_the_timestamp_and_the_body() -> None:
    now = int(time.time())
    header = webhook_signature("whsec_s", now, b'{"a":1}')
    assert verify_webhook_signature("whsec_s", header, b'{"a":1}')
    assert not verify_webhook_signature("whsec_s", header, b'{"a":2}')
    stale = webhook_signature("whsec_s", now - 3600, b'{"a":1}')
    assert not verify_webhook_signature("whsec_s", stale, b'{"a":1}')
    assert not verify_webhook_signature("whsec_s", "garbage", b'{"a":1}')


async def test_a_host_rebound_to_loopback_after_registration_is_not_reached_outside_dev_mode(
    fast_live: LiveGateway,
) -> None:
    live = fast_live
    # The gateway's own deliveries, as a production gateway (no dev mode) makes them, through a DNS we control.
    production = live.runtime.settings.model_copy(update={"dev_mode": False})
    resolver = FakeResolver(["93.184.215.14"])
    service = WebhookService(
        live.runtime.db, SecretBox(master_secret(production)), live.runtime.webhook_http, production, resolver
    )
    live.runtime.worker.register(WEBHOOK_JOB, service.run_job)
    receiver = Receiver([200])
    async with await serve_receiver(receiver) as receiver_url:
        port = httpx.URL(receiver_url).port
        # "localhost" is loopback to the system resolver: a client that looked it up again would reach the receiver.
        await service.register(live.credentials["merchant_id"], f"http://localhost:{port}/notify")
        resolver.answers = ["127.0.0.1"]  # the attacker's DNS rebinds the name
        paid = await live.terminal.micropay(700, "W4", await live.payment_code("wechat"))
        assert paid.status_code == 200, paid.text
        [delivery] = await settled(live)
    assert receiver.received == []
    assert delivery["status"] == "failed"
    assert len(delivery["attempts"]) == len(FAST_LADDER) + 1  # each attempt looked up, refused and retried
    assert all(
        a["status_code"] is None and "resolves to a private or reserved address" in a["error"]
        for a in delivery["attempts"]
    )
    assert resolver.lookups == ["localhost"] * (len(FAST_LADDER) + 2)  # registration, then once per attempt


async def test_a_delivery_connects_to_the_address_it_looked_up_and_names_the_host(fast_live: LiveGateway) -> None:
    live = fast_live
    resolver = FakeResolver(["127.0.0.1"])
    live.runtime.webhooks.resolver = resolver
    receiver = Receiver([204])
    async with await serve_receiver(receiver) as receiver_url:
        port = httpx.URL(receiver_url).port
        # .invalid never resolves (RFC 6761): only the address looked up through the resolver can be reached.
        assert (await register(live, f"http://shop.invalid:{port}/notify")).status_code == 200
        paid = await live.terminal.micropay(800, "W5", await live.payment_code("alipay"))
        assert paid.status_code == 200, paid.text
        [delivery] = await settled(live)
    assert delivery["status"] == "delivered"
    [(headers, _)] = receiver.received
    assert headers["host"] == f"shop.invalid:{port}"
    assert resolver.lookups == ["shop.invalid"]


async def test_https_to_the_checked_address_verifies_the_certificate_of_the_host_name(tmp_path: Path) -> None:
    async with serve_tls_receiver(tmp_path, "shop.test") as tls, httpx.AsyncClient(verify=tls.client_context) as http:
        target = parse_webhook_url(f"https://shop.test:{tls.port}/notify")
        addresses = await resolve_webhook_host(target, True, FakeResolver(["127.0.0.1"]))
        response = await post_pinned(http, target, addresses, b"{}", {"Content-Type": "application/json"}, 5.0)
        assert response.status_code == 204
        # SNI named the host, not the address connected to (the certificate carries no address).
        assert tls.seen == [("shop.test", f"shop.test:{tls.port}")]
        # The same address under a name its certificate does not carry: verified against the name, refused.
        other = parse_webhook_url(f"https://other.test:{tls.port}/notify")
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await post_pinned(http, other, addresses, b"{}", {}, 5.0)
        assert len(tls.seen) == 1


async def test_a_delivery_tries_the_next_checked_address_when_one_refuses() -> None:
    receiver = Receiver([204])
    async with await serve_receiver(receiver) as receiver_url:
        port = httpx.URL(receiver_url).port
        target = parse_webhook_url(f"http://shop.invalid:{port}/notify")
        # Nothing listens on ::1 at that port here (the receiver is IPv4 only): refused, then 127.0.0.1.
        addresses = await resolve_webhook_host(target, True, FakeResolver(["::1", "127.0.0.1"]))
        async with httpx.AsyncClient() as http:
            response = await post_pinned(http, target, addresses, b"{}", {}, 5.0)
    assert response.status_code == 204 and len(receiver.received) == 1


@pytest.mark.parametrize(
    "answers", [["93.184.215.14", "10.0.0.7"], ["::ffff:192.168.1.1"], ["fe80::1%eth0"], ["2606:2800::1", "::1"]]
)
async def test_one_private_answer_among_the_addresses_refuses_the_host(answers: list[str]) -> None:
    target = parse_webhook_url("https://shop.example.com/notify")
    with pytest.raises(InvalidInput) as refused:
        await resolve_webhook_host(target, False, FakeResolver(answers))
    assert refused.value.code == "webhook_url_not_allowed"
    assert await resolve_webhook_host(target, True, FakeResolver(answers))  # dev mode: connected to as answered


async def test_a_host_that_does_not_resolve_fails_the_attempt_as_unresolvable() -> None:
    async def nothing(host: str, port: int) -> list[str]:
        raise OSError(f"no address for {host}")

    target = parse_webhook_url("https://shop.example.com/notify")
    for resolver in (nothing, FakeResolver([])):
        with pytest.raises(InvalidInput) as refused:
            await resolve_webhook_host(target, True, resolver)
        assert refused.value.code == "webhook_url_unresolvable"
