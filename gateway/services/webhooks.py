"""Merchant webhooks: notify URLs SSRF-checked and pinned to the checked address, signed POSTs, retries on a ladder."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from gateway.config import Settings
from gateway.domain.errors import InvalidInput
from gateway.domain.events import TerminalEvent, public_event_id
from gateway.domain.webhooks import WEBHOOK_DELIVERY_MACHINE, DeliveryStatus
from gateway.persistence import jobs, outbox
from gateway.persistence import webhooks as repo
from gateway.persistence.database import Database, Tx
from gateway.persistence.jobs import ClaimedJob
from gateway.persistence.tables import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from gateway.services.credentials import SecretBox

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

WEBHOOK_JOB = "webhook"
SIGNATURE_HEADER = "X-Gateway-Signature"
EVENT_ID_HEADER = "X-Gateway-Event-Id"
#: Receivers should refuse signatures whose timestamp is further than this from their clock (replays).
SIGNATURE_TOLERANCE_S = 300
MAX_URL_LENGTH = 512
#: An attempt in progress holds its delivery this much longer than the HTTP timeout (another worker keeps off).
ATTEMPT_CLAIM_MARGIN = timedelta(seconds=30)


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`, keyed with the endpoint's secret."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_webhook_signature(secret: str, header: str, body: bytes, now: float | None = None) -> bool:
    """What a merchant's server does with the signature header (the README shows the same in a few lines)."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    timestamp = parts.get("t", "")
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > SIGNATURE_TOLERANCE_S:
        return False
    expected = webhook_signature(secret, int(timestamp), body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


Resolver = Callable[[str, int], Awaitable[list[str]]]
"""A host name and port -> the addresses it resolves to, most preferred first."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The system's getaddrinfo, without blocking the event loop."""
    resolved = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]) for *_, sockaddr in resolved]


@dataclass(frozen=True)
class WebhookTarget:
    """A notify URL that keeps the syntax rules, with the host (ASCII, as looked up and as TLS names it) and port."""

    url: httpx.URL
    host: str
    port: int


def parse_webhook_url(url: str) -> WebhookTarget:
    """http(s) with a host and a valid port, no credentials, at most MAX_URL_LENGTH characters."""
    parts = urlsplit(url)
    if len(url) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"the notify URL must be http(s) with a host, at most {MAX_URL_LENGTH} characters",
            code="invalid_webhook_url",
        )
    if parts.username or parts.password:
        raise InvalidInput("the notify URL must not carry credentials", code="invalid_webhook_url")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        parsed = httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as exc:
        raise InvalidInput("the notify URL has an invalid host or port", code="invalid_webhook_url") from exc
    return WebhookTarget(parsed, parsed.raw_host.decode("ascii"), port)


async def resolve_webhook_host(target: WebhookTarget, allow_private: bool, resolver: Resolver) -> list[IPAddress]:
    """The addresses a delivery may connect to; outside dev mode every address the host has must be public."""
    try:
        answers = await resolver(target.host, target.port)
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(f"{target.host} does not resolve", code="webhook_url_unresolvable") from exc
    addresses = list(dict.fromkeys(_unmapped(ipaddress.ip_address(answer.split("%", 1)[0])) for answer in answers))
    if not addresses:
        raise InvalidInput(f"{target.host} does not resolve", code="webhook_url_unresolvable")
    if not allow_private and not all(address.is_global for address in addresses):
        raise InvalidInput(f"{target.host} resolves to a private or reserved address", code="webhook_url_not_allowed")
    return addresses


def _unmapped(address: IPAddress) -> IPAddress:
    """::ffff:10.0.0.1 is 10.0.0.1 to the network stack: judge (and connect to) the IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


async def check_webhook_url(url: str, allow_private: bool, resolver: Resolver = system_resolver) -> None:
    """Registration: the syntax rules, and outside dev mode a host whose every address is public (no SSRF)."""
    target = parse_webhook_url(url)
    if not allow_private:
        await resolve_webhook_host(target, allow_private, resolver)


async def post_pinned(
    http: httpx.AsyncClient,
    target: WebhookTarget,
    addresses: list[IPAddress],
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
) -> httpx.Response:
    """POST to the checked addresses themselves, in order until one takes the connection, so that no second look-up
    can rebind the host; the Host header and, for https, SNI and certificate verification use the host name."""
    headers = headers | {"Host": target.url.netloc.decode("ascii")}
    extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}

    async def post(address: IPAddress) -> httpx.Response:
        url = target.url.copy_with(host=str(address))
        return await http.post(url, content=body, headers=headers, timeout=timeout_s, extensions=extensions)

    for address in addresses[:-1]:
        with contextlib.suppress(httpx.ConnectError):  # refused or unreachable: the next address
            return await post(address)
    return await post(addresses[-1])


def enqueue_webhook(tx: Tx, event: TerminalEvent, merchant_id: str, url: str) -> None:
    """In the outbox event's transaction: owe it to the merchant's notify URL `url` (events about an order)."""
    if event.order_id is not None:
        _owe(tx, event.id, merchant_id, event.order_id, url)


def notify_merchants(tx: Tx, event_type: str, payload_of: Callable[[str], dict[str, Any]]) -> int:
    """In the caller's transaction: an event for every merchant with a notify URL (`payload_of(merchant_id)`), each
    owed to its URL and attempted, in order, by the gateway's one job for events about no order; how many."""
    notified = repo.all_endpoints(tx)
    for merchant_id, url in notified:
        event_id = outbox.append_merchant_event(tx, merchant_id, event_type, payload_of(merchant_id))
        _owe(tx, event_id, merchant_id, None, url)
    return len(notified)


def _owe(tx: Tx, event_id: int, merchant_id: str, order_id: str | None, url: str) -> None:
    WEBHOOK_DELIVERY_MACHINE.creation_path(DeliveryStatus.PENDING)
    now = datetime.now(UTC)
    repo.add_delivery(tx, event_id, merchant_id, order_id, url, now)
    jobs.schedule(tx, WEBHOOK_JOB, order_id, now)


@dataclass(frozen=True)
class RegisteredEndpoint:
    url: str
    secret: str | None  # only right after registration
    created_at: datetime


@dataclass(frozen=True)
class DeliveryView:
    delivery: WebhookDelivery
    event: OutboxEvent
    attempts: list[WebhookAttempt]

    @property
    def event_id(self) -> str:
        return public_event_id(self.event.id)


def webhook_body(event: OutboxEvent) -> bytes:
    return json.dumps(
        {
            "id": public_event_id(event.id),
            "type": event.type,
            "created_at": event.created_at.isoformat(),
            "merchant_id": event.merchant_id,
            "terminal_id": event.terminal_id,
            "order_id": event.order_id,
            "data": event.payload,
        },
        separators=(",", ":"),
    ).encode()


class WebhookService:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        http: httpx.AsyncClient,
        settings: Settings,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._db = db
        self._box = box
        self._http = http
        #: How registration and each delivery attempt look the notify URL's host up.
        self.resolver = resolver
        self._allow_private = settings.dev_mode
        self._ladder = [timedelta(seconds=s * settings.time_scale) for s in settings.webhook_retry_s]
        self._timeout_s = settings.webhook_timeout_s

    async def register(self, merchant_id: str, url: str) -> RegisteredEndpoint:
        """Set (or replace) the merchant's notify URL with a new signing secret, shown only now."""
        await check_webhook_url(url, self._allow_private, self.resolver)
        secret = f"whsec_{secrets.token_urlsafe(24)}"
        now = datetime.now(UTC)
        await self._db.transaction(repo.replace_endpoint, merchant_id, url, self._box.seal(secret), now)
        return RegisteredEndpoint(url, secret, now)

    async def endpoint(self, merchant_id: str) -> RegisteredEndpoint | None:
        endpoint = await self._db.transaction(repo.get_endpoint, merchant_id)
        return None if endpoint is None else RegisteredEndpoint(endpoint.url, None, endpoint.created_at)

    async def remove(self, merchant_id: str) -> bool:
        return await self._db.transaction(repo.remove_endpoint, merchant_id)

    async def deliveries(self, merchant_id: str, limit: int, order_id: str | None = None) -> list[DeliveryView]:
        """The merchant's deliveries, newest first, each with its attempts."""
        rows = await self._db.transaction(repo.merchant_deliveries, merchant_id, limit, order_id)
        return [DeliveryView(delivery, event, attempts) for delivery, event, attempts in rows]

    async def run_job(self, job: ClaimedJob) -> None:
        """Attempt the order's due deliveries (the gateway's job: those of events about no order), oldest event first,
        then wait for the next one due, if any."""
        due = await self._db.transaction(repo.due_deliveries, job.order_id, datetime.now(UTC))
        for delivery_id in due:
            await self._attempt(delivery_id)

        def reschedule(tx: Tx) -> None:
            # Delete first: a concurrent enqueue's job row is then either waited for and seen below, or kept.
            jobs.finish(tx, WEBHOOK_JOB, job.order_id)
            next_due = repo.next_due(tx, job.order_id)
            if next_due is not None:
                jobs.schedule(tx, WEBHOOK_JOB, job.order_id, next_due)

        await self._db.transaction(reschedule)

    async def _attempt(self, delivery_id: int) -> None:
        now = datetime.now(UTC)
        hold_until = now + timedelta(seconds=self._timeout_s) + ATTEMPT_CLAIM_MARGIN

        def claim(tx: Tx) -> tuple[WebhookDelivery, OutboxEvent, WebhookEndpoint | None] | None:
            if not repo.claim(tx, delivery_id, now, hold_until):
                return None  # another worker has it, or it is not due any more
            return repo.attempt_context(tx, delivery_id)

        claimed = await self._db.transaction(claim)
        if claimed is None:
            return
        delivery, event, endpoint = claimed
        number = delivery.attempts + 1
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        url = endpoint.url if endpoint is not None else delivery.url
        if endpoint is None:
            error = "the notify URL was removed"
        else:
            body = webhook_body(event)
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: webhook_signature(self._box.open(endpoint.secret_encrypted), int(time.time()), body),
                EVENT_ID_HEADER: public_event_id(event.id),
            }
            try:
                webhook_target = parse_webhook_url(url)
                # Looked up now (DNS may have changed since registration), checked, and connected to as checked.
                addresses = await resolve_webhook_host(webhook_target, self._allow_private, self.resolver)
                response = await post_pinned(self._http, webhook_target, addresses, body, headers, self._timeout_s)
                status_code = response.status_code
                if not response.is_success:
                    error = f"HTTP {status_code}"
            except (httpx.HTTPError, InvalidInput) as exc:
                error = f"{type(exc).__name__}: {exc}"[:256]
        delivered = error is None
        finished_at = datetime.now(UTC)
        duration_ms = int((time.monotonic() - started) * 1000)
        values: dict[str, object] = {"attempts": number, "url": url}
        if delivered:
            target = DeliveryStatus.DELIVERED
            values |= {"delivered_at": finished_at, "next_attempt_at": None}
        elif endpoint is None or number > len(self._ladder):
            target = DeliveryStatus.FAILED
            values |= {"next_attempt_at": None}
        else:
            target = DeliveryStatus.PENDING
            values |= {"next_attempt_at": finished_at + self._ladder[number - 1]}
        # The claim held it PENDING, so the check passes: the table still says which outcome may follow which.
        WEBHOOK_DELIVERY_MACHINE.check(DeliveryStatus.PENDING, target)

        def record(tx: Tx) -> None:
            repo.add_attempt(tx, delivery_id, number, now, status_code, error, duration_ms)
            repo.compare_and_set(tx, delivery_id, DeliveryStatus.PENDING, target, **values)

        await self._db.transaction(record)
        if not delivered:
            log.info("webhook %s attempt %d to %s failed: %s", public_event_id(event.id), number, url, error)
