"""The database tables, as SQLAlchemy 2 declarative models."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from gateway.domain.channels import Channel
from gateway.domain.orders import OrderKind, OrderStatus
from gateway.domain.qr import QrAttemptStatus
from gateway.domain.reconciliation import count_kinds
from gateway.domain.refunds import RefundReason, RefundStatus
from gateway.domain.scans import ScanSessionStatus


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive, so tz is restored on the way out)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StrEnumType(TypeDecorator[StrEnum]):
    """A StrEnum stored as its plain string value, and read back as the enum member."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[StrEnum], length: int = 24) -> None:
        super().__init__(length)
        self.enum = enum
        self.length = length

    def process_bind_param(self, value: StrEnum | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> StrEnum | None:
        return None if value is None else self.enum(value)


def table_of(model: type[Base]) -> Table:
    """A model's Core table, for prebuilt statements on plain rows (typed as the Table it is)."""
    return cast(Table, model.__table__)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with naming conventions so migrations name constraints the same on every backend."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    require_operator: Mapped[bool] = mapped_column(Boolean, default=False)
    # Terminal refunds carry a supervisor's number and password.
    refund_requires_supervisor: Mapped[bool] = mapped_column(Boolean, default=False)
    reference_seq: Mapped[int] = mapped_column(BigInteger, default=0)  # the last reference number given
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiKey(Base):
    """A merchant API key: the prefix finds it, the SHA-256 of the secret proves it."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Store(Base):
    __tablename__ = "stores"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Terminal(Base):
    """A shop's smart terminal; its HMAC key is kept encrypted because verifying signatures needs it."""

    __tablename__ = "terminals"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    secret_encrypted: Mapped[str] = mapped_column(String(256))
    # The key a rotation replaced: it signs too until it is revoked.
    previous_key_id: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True, index=True)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(String(256), nullable=True)
    single_limit_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    daily_limit_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    event_seq: Mapped[int] = mapped_column(BigInteger, default=0)  # the last sequence number given to an event
    operator_id: Mapped[str | None] = mapped_column(ForeignKey("operators.id"), nullable=True)  # signed in now
    operator_signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    batch_no: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the open batch; None before the first
    voucher_seq: Mapped[int] = mapped_column(Integer, default=0)  # the last voucher number given
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Operator(Base):
    """A cashier or supervisor who signs in on a terminal; the password is stored as a scrypt hash."""

    __tablename__ = "operators"
    __table_args__ = (UniqueConstraint("merchant_id", "number"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)  # wrong passwords in a row
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Order(Base):
    """One payment, unique per merchant order number."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("merchant_id", "out_trade_no"),
        Index("uq_orders_reference_no", "merchant_id", "reference_no", unique=True),
        Index("ix_orders_merchant_created", "merchant_id", "created_at", "id"),
        Index("ix_orders_terminal_voucher", "terminal_id", "batch_no", "voucher_no"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    store_id: Mapped[str] = mapped_column(ForeignKey("stores.id"))
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"), index=True)
    operator_id: Mapped[str | None] = mapped_column(ForeignKey("operators.id"), nullable=True)
    out_trade_no: Mapped[str] = mapped_column(String(32))
    kind: Mapped[OrderKind] = mapped_column(StrEnumType(OrderKind, 16))
    channel: Mapped[Channel | None] = mapped_column(StrEnumType(Channel, 16), nullable=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # what requested refunds gave back
    # Requested refunds accepted and not failed (succeeded or under way): never more than amount_fen.
    refund_reserved_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_count: Mapped[int] = mapped_column(Integer, default=0)  # requested refunds ever accepted
    status: Mapped[OrderStatus] = mapped_column(StrEnumType(OrderStatus), index=True)
    description: Mapped[str] = mapped_column(String(128), default="")
    auth_code_masked: Mapped[str | None] = mapped_column(String(32), nullable=True)
    channel_trade_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    code_url: Mapped[str | None] = mapped_column(String(512), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    qr_token: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)  # aggregate: /q/{token}
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # B-scan-C: reverse from here
    failure_code: Mapped[str | None] = mapped_column(String(48), nullable=True)
    failure_detail: Mapped[str | None] = mapped_column(String(256), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The channel's fee and the rate it was taken at, written when the payment arrived (None: not paid, or older).
    fee_rate_bp: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fee_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The terminal's 6-digit batch and voucher numbers and the merchant's 12-digit reference number (None: older).
    batch_no: Mapped[str | None] = mapped_column(String(6), nullable=True)
    voucher_no: Mapped[str | None] = mapped_column(String(6), nullable=True)
    reference_no: Mapped[str | None] = mapped_column(String(12), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    transitions: Mapped[list[OrderTransition]] = relationship(
        back_populates="order", order_by="OrderTransition.id", cascade="all, delete-orphan"
    )


class OrderTransition(Base):
    """The audit trail: every status change with its cause, time and actor."""

    __tablename__ = "order_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[OrderStatus | None] = mapped_column(StrEnumType(OrderStatus), nullable=True)
    to_status: Mapped[OrderStatus] = mapped_column(StrEnumType(OrderStatus))
    cause: Mapped[str] = mapped_column(String(128))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    order: Mapped[Order] = relationship(back_populates="transitions")


class TerminalNonce(Base):
    """Nonces of signed terminal requests, kept for the signature window so each is accepted once."""

    __tablename__ = "terminal_nonces"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class IdempotencyRecord(Base):
    """The first response to a request key, replayed to retries with the same body."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("terminal_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(80))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None while in flight
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class UsedPaymentCode(Base):
    """Payment codes already charged (as keyed hashes: codes are credentials), so a code is charged once."""

    __tablename__ = "used_payment_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Job(Base):
    """Work due at a time (follow-up queries, reverses), leased by one worker at a time: one per order and kind, or
    one of a kind for the whole gateway (no order: the daily reconciliation, merchant-wide webhooks)."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("kind", "order_id"),
        Index(
            "uq_jobs_gateway_kind",
            "kind",
            unique=True,
            sqlite_where=text("order_id IS NULL"),
            postgresql_where=text("order_id IS NULL"),
        ),
        Index("ix_jobs_due", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxEvent(Base):
    """An event for a terminal (and the merchant), written in the transaction of the change that caused it; one
    without a terminal (seq 0) is the merchant's alone, for its webhook (a reconciliation done)."""

    __tablename__ = "outbox_events"
    __table_args__ = (UniqueConstraint("terminal_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    terminal_id: Mapped[str | None] = mapped_column(ForeignKey("terminals.id", ondelete="CASCADE"), nullable=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), nullable=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(48))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TerminalTicket(Base):
    """A short-lived, single-use ticket that opens a terminal's event websocket (stored as a SHA-256 hash)."""

    __tablename__ = "terminal_tickets"

    ticket_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TerminalEventAck(Base):
    """The last event sequence a terminal acknowledged: where a resume without a sequence starts."""

    __tablename__ = "terminal_event_acks"

    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id", ondelete="CASCADE"), primary_key=True)
    acked_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEndpoint(Base):
    """A merchant's notify URL and its signing secret (kept encrypted: signing needs it back)."""

    __tablename__ = "webhook_endpoints"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str] = mapped_column(String(512))
    secret_encrypted: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One outbox event owed to one merchant's notify URL, retried on a ladder until a 2xx or the ladder ends."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id"),
        Index("ix_webhook_deliveries_merchant", "merchant_id", "id"),
        Index("ix_webhook_deliveries_order_due", "order_id", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    #: None for an event about no order; such deliveries are attempted by one gateway-wide job, in event order.
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), nullable=True)
    url: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed (the ladder ran out)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookAttempt(Base):
    """One POST of a delivery: when, and what the merchant's server answered (or why it could not)."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(String(256), nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class Camera(Base):
    """A camera bound to one terminal; its key `ck_<prefix>_<secret>` is found by prefix, proven by SHA-256."""

    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    key_prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    # The key a rotation replaced: it works too until it is revoked.
    previous_key_prefix: Mapped[str | None] = mapped_column(String(16), nullable=True, unique=True, index=True)
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ScanSession(Base):
    """A terminal waiting for its camera to read a payment code for an amount; one open per terminal."""

    __tablename__ = "scan_sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id", ondelete="CASCADE"), index=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"))
    # The terminal's id while the session is OPEN or CHARGING, NULL once final: the unique constraint
    # makes "one open session per terminal" a database guarantee on SQLite and PostgreSQL alike.
    active_terminal_id: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    status: Mapped[ScanSessionStatus] = mapped_column(StrEnumType(ScanSessionStatus, 16))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    out_trade_no: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(128), default="")
    # Who opened the session: the payment is theirs, whoever is signed in when the code is read.
    operator_id: Mapped[str | None] = mapped_column(ForeignKey("operators.id"), nullable=True)
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id"), nullable=True)
    last_refusal: Mapped[str | None] = mapped_column(String(48), nullable=True)  # why the last code was refused
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    charging_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class QrAttempt(Base):
    """One channel order behind a C-scan-B order: its code, and whether it was paid, closed or refunded."""

    __tablename__ = "qr_attempts"
    __table_args__ = (UniqueConstraint("order_id", "channel"), UniqueConstraint("channel", "channel_out_trade_no"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel, 16))
    channel_out_trade_no: Mapped[str] = mapped_column(String(64))
    code_url: Mapped[str | None] = mapped_column(String(512), nullable=True)  # None until the channel answered
    status: Mapped[QrAttemptStatus] = mapped_column(StrEnumType(QrAttemptStatus, 16))
    channel_trade_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Refund(Base):
    """Money given back for one channel trade of an order, sent under `out_refund_no` until the channel settles it.

    Requested refunds (reason `requested`) also carry the requester's own number, `merchant_refund_no`, unique per
    merchant; the channel sees `out_refund_no`, our id without its underscore.
    """

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("merchant_id", "merchant_refund_no"),
        Index("uq_refunds_reference_no", "merchant_id", "reference_no", unique=True),
        Index("ix_refunds_merchant_created", "merchant_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel, 16))
    channel_out_trade_no: Mapped[str] = mapped_column(String(64))  # the trade refunded, as the channel knows it
    channel_trade_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    merchant_refund_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    total_fen: Mapped[int] = mapped_column(BigInteger)  # what the trade paid
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[RefundReason] = mapped_column(StrEnumType(RefundReason, 32))
    via_reverse: Mapped[bool] = mapped_column(Boolean, default=False)  # a void sent as reverse/cancel, not refund
    description: Mapped[str | None] = mapped_column(String(80), nullable=True)  # the requester's reason, if any
    status: Mapped[RefundStatus] = mapped_column(StrEnumType(RefundStatus, 16), index=True)
    terminal_id: Mapped[str | None] = mapped_column(ForeignKey("terminals.id"), nullable=True)  # who asked
    operator_id: Mapped[str | None] = mapped_column(ForeignKey("operators.id"), nullable=True)
    supervisor_id: Mapped[str | None] = mapped_column(ForeignKey("operators.id"), nullable=True)  # who approved
    channel_refund_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    failure_code: Mapped[str | None] = mapped_column(String(48), nullable=True)
    failure_detail: Mapped[str | None] = mapped_column(String(256), nullable=True)
    fee_fen: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the fee given back, once SUCCEEDED
    # The terminal's batch and voucher numbers, the merchant's reference number (None: older, or not a terminal's).
    batch_no: Mapped[str | None] = mapped_column(String(6), nullable=True)
    voucher_no: Mapped[str | None] = mapped_column(String(6), nullable=True)
    reference_no: Mapped[str | None] = mapped_column(String(12), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReceiptPrint(Base):
    """How many times one slip (merchant or customer copy) of a payment, refund or void was printed."""

    __tablename__ = "receipt_prints"

    transaction_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # an order's or a refund's id
    slip: Mapped[str] = mapped_column(String(16), primary_key=True)  # merchant, customer
    prints: Mapped[int] = mapped_column(Integer)
    last_printed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MerchantFeeRate(Base):
    """A merchant's own fee rate on one channel (without one, the channel's default from the settings)."""

    __tablename__ = "merchant_fee_rates"

    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel, 16), primary_key=True)
    rate_bp: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Settlement(Base):
    """A terminal's end of day (结算): one closed batch and its totals per channel and kind, as written then."""

    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("terminal_id", "batch_no"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"), index=True)
    batch_no: Mapped[str] = mapped_column(String(6))
    operator_id: Mapped[str | None] = mapped_column(ForeignKey("operators.id"), nullable=True)
    totals: Mapped[dict[str, Any]] = mapped_column(JSON)
    settled_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Reconciliation(Base):
    """One channel's bill for one Beijing business day matched against our records: the counts and differences."""

    __tablename__ = "reconciliations"
    __table_args__ = (Index("ix_reconciliations_day_channel", "day", "channel"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, Beijing
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel, 16))
    status: Mapped[str] = mapped_column(String(16))  # completed, no_bill, unavailable
    bill_lines: Mapped[int] = mapped_column(Integer)
    differences: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    bad_lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: What the channel said when there was no bill, or why it could not be had or read.
    detail: Mapped[str | None] = mapped_column(String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def counts(self) -> dict[str, int]:
        """Differences per kind (only the kinds found)."""
        return count_kinds(self.differences)
