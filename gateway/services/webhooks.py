"""Merchant webhooks: notify URL registration (SSRF-checked), signed POSTs of outbox events, retries on a ladder."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

import httpx
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.config import Settings
from gateway.domain.errors import InvalidInput
from gateway.persistence.tables import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from gateway.realtime.hub import TerminalEvent, public_event_id
from gateway.services.credentials import SecretBox
from gateway.services.jobs import ClaimedJob, finish, schedule

log = logging.getLogger(__name__)

WEBHOOK_JOB = "webhook"
SIGNATURE_HEADER = "X-Gateway-Signature"
EVENT_ID_HEADER = "X-Gateway-Event-Id"
#: Receivers should refuse signatures whose timestamp is further than this from their clock (replays).
SIGNATURE_TOLERANCE_S = 300
MAX_URL_LENGTH = 512
#: An attempt in progress holds its delivery this much longer than the HTTP timeout (another worker keeps off).
ATTEMPT_CLAIM_MARGIN = timedelta(seconds=30)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # the retry ladder ran out


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


async def check_webhook_url(url: str, allow_private: bool) -> None:
    """http(s) with a host; outside dev mode every address the host resolves to must be public (no SSRF)."""
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
    except ValueError as exc:
        raise InvalidInput("the notify URL has an invalid port", code="invalid_webhook_url") from exc
    if allow_private:
        return
    try:
        resolved = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput(f"{parts.hostname} does not resolve", code="webhook_url_unresolvable") from exc
    for *_, sockaddr in resolved:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_global:
            raise InvalidInput(
                f"{parts.hostname} resolves to a private or reserved address", code="webhook_url_not_allowed"
            )


async def enqueue_webhook(session: AsyncSession, event: TerminalEvent, merchant_id: str, url: str) -> None:
    """In the outbox event's transaction: owe it to the merchant's notify URL `url`."""
    if event.order_id is None:
        return
    now = datetime.now(UTC)
    session.add(
        WebhookDelivery(
            event_id=event.id,
            merchant_id=merchant_id,
            order_id=event.order_id,
            url=url,
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    await schedule(session, WEBHOOK_JOB, event.order_id, now)


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
        self, sessions: async_sessionmaker[AsyncSession], box: SecretBox, http: httpx.AsyncClient, settings: Settings
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._http = http
        self._allow_private = settings.dev_mode
        self._ladder = [timedelta(seconds=s * settings.time_scale) for s in settings.webhook_retry_s]
        self._timeout_s = settings.webhook_timeout_s

    async def register(self, merchant_id: str, url: str) -> RegisteredEndpoint:
        """Set (or replace) the merchant's notify URL with a new signing secret, shown only now."""
        await check_webhook_url(url, self._allow_private)
        secret = f"whsec_{secrets.token_urlsafe(24)}"
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.merchant_id == merchant_id))
            session.add(
                WebhookEndpoint(
                    merchant_id=merchant_id, url=url, secret_encrypted=self._box.seal(secret), created_at=now
                )
            )
        return RegisteredEndpoint(url, secret, now)

    async def endpoint(self, merchant_id: str) -> RegisteredEndpoint | None:
        async with self._sessions() as session:
            endpoint = await session.get(WebhookEndpoint, merchant_id)
        return None if endpoint is None else RegisteredEndpoint(endpoint.url, None, endpoint.created_at)

    async def remove(self, merchant_id: str) -> bool:
        async with self._sessions.begin() as session:
            removed = await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.merchant_id == merchant_id))
        return bool(getattr(removed, "rowcount", 0))

    async def deliveries(self, merchant_id: str, limit: int, order_id: str | None = None) -> list[DeliveryView]:
        """The merchant's deliveries, newest first, each with its attempts."""
        query = (
            select(WebhookDelivery, OutboxEvent)
            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.merchant_id == merchant_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
        if order_id is not None:
            query = query.where(WebhookDelivery.order_id == order_id)
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
            attempts = await session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id.in_([delivery.id for delivery, _ in rows]))
                .order_by(WebhookAttempt.number)
            )
            by_delivery: dict[int, list[WebhookAttempt]] = {}
            for attempt in attempts:
                by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
        return [DeliveryView(delivery, event, by_delivery.get(delivery.id, [])) for delivery, event in rows]

    async def run_job(self, job: ClaimedJob) -> None:
        """Attempt the order's due deliveries (oldest event first), then wait for the next one due, if any."""
        now = datetime.now(UTC)
        async with self._sessions() as session:
            due: Sequence[int] = (
                await session.scalars(
                    select(WebhookDelivery.id)
                    .where(
                        WebhookDelivery.order_id == job.order_id,
                        WebhookDelivery.status == DeliveryStatus.PENDING,
                        WebhookDelivery.next_attempt_at <= now,
                    )
                    .order_by(WebhookDelivery.id)
                )
            ).all()
        for delivery_id in due:
            await self._attempt(delivery_id)
        async with self._sessions.begin() as session:
            # Delete first: a concurrent enqueue's job row is then either waited for and seen below, or kept.
            await finish(session, WEBHOOK_JOB, job.order_id)
            next_due = await session.scalar(
                select(func.min(WebhookDelivery.next_attempt_at)).where(
                    WebhookDelivery.order_id == job.order_id, WebhookDelivery.status == DeliveryStatus.PENDING
                )
            )
            if next_due is not None:
                await schedule(session, WEBHOOK_JOB, job.order_id, next_due)

    async def _attempt(self, delivery_id: int) -> None:
        now = datetime.now(UTC)
        async with self._sessions.begin() as session:
            claimed = await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.status == DeliveryStatus.PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + timedelta(seconds=self._timeout_s) + ATTEMPT_CLAIM_MARGIN)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return  # another worker has it, or it is not due any more
            delivery = await session.get(WebhookDelivery, delivery_id)
            assert delivery is not None
            event = await session.get(OutboxEvent, delivery.event_id)
            endpoint = await session.get(WebhookEndpoint, delivery.merchant_id)
        assert event is not None
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
                await check_webhook_url(url, self._allow_private)  # DNS may have changed since registration
                response = await self._http.post(url, content=body, headers=headers, timeout=self._timeout_s)
                status_code = response.status_code
                if not response.is_success:
                    error = f"HTTP {status_code}"
            except (httpx.HTTPError, InvalidInput) as exc:
                error = f"{type(exc).__name__}: {exc}"[:256]
        delivered = error is None
        finished_at = datetime.now(UTC)
        async with self._sessions.begin() as session:
            session.add(
                WebhookAttempt(
                    delivery_id=delivery_id,
                    number=number,
                    at=now,
                    status_code=status_code,
                    error=error,
                    duration_ms=int((time.monotonic() - started) * 1000),
                )
            )
            values: dict[str, object] = {"attempts": number, "url": url}
            if delivered:
                values |= {"status": DeliveryStatus.DELIVERED, "delivered_at": finished_at, "next_attempt_at": None}
            elif endpoint is None or number > len(self._ladder):
                values |= {"status": DeliveryStatus.FAILED, "next_attempt_at": None}
            else:
                values |= {"next_attempt_at": finished_at + self._ladder[number - 1]}
            await session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(**values))
        if not delivered:
            log.info("webhook %s attempt %d to %s failed: %s", public_event_id(event.id), number, url, error)
