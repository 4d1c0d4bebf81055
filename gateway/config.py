"""Gateway settings from the environment (prefix GATEWAY_) or a .env file, with embedded defaults."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.domain.channels import Channel
from gateway.domain.fees import DEFAULT_FEE_RATES_BP, DEFAULT_REFUND_RETURNS_FEE
from gateway.domain.followup import DEFAULT_FOLLOW_UP, FollowUpPolicy
from gateway.domain.money import DEFAULT_MAX_AMOUNT_FEN

#: WeChat Pay's notification ladder: 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h, about 24 h in all.
WEBHOOK_RETRY_LADDER_S = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)


class Settings(BaseSettings):
    """Everything the gateway reads from outside; every secret is a SecretStr."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", env_file=".env", extra="ignore", env_nested_delimiter="__")

    dev_mode: bool = Field(False, description="Seed a demo merchant and mount the channel simulators in-process.")
    var_dir: Path = Field(Path("var"), description="Where the embedded database, keys and credentials live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy async URL; default: a SQLite file in var_dir. PostgreSQL: postgresql+asyncpg://"
    )
    sqlite_synchronous: Literal["NORMAL", "FULL"] = Field(
        "NORMAL",
        description="SQLite durability: NORMAL keeps every commit across a process crash; FULL also across power "
        "loss or an OS crash, at an fsync per commit.",
    )
    auto_migrate: bool | None = Field(None, description="Run migrations on start; default: only for SQLite.")
    host: str = "127.0.0.1"
    port: int = 8000
    public_base_url: str | None = Field(None, description="How terminals and phones reach us; default from host/port.")
    secret_key: SecretStr | None = Field(
        None, description="Encrypts terminal keys at rest; generated under var_dir in dev mode."
    )
    max_amount_fen: int = Field(DEFAULT_MAX_AMOUNT_FEN, gt=0)
    time_scale: float = Field(1.0, gt=0, description="Multiplies every follow-up delay; tests make it small.")
    follow_up: dict[Channel, FollowUpPolicy] = Field(
        default_factory=lambda: dict(DEFAULT_FOLLOW_UP),
        description="Per channel: query delays, deadline and reverse retry (seconds, before time_scale).",
    )
    micropay_wait_s: float = Field(3.0, ge=0, description="How long POST /v1/payments/micropay waits for a result.")
    micropay_max_in_flight: int = Field(
        64, gt=0, description="Micropay requests this instance works on at once; the next is 503 busy at once."
    )
    channel_timeout_s: float = Field(5.0, gt=0, description="HTTP timeout of every channel call.")
    channel_base_urls: dict[Channel, str] = Field(
        default_factory=dict, description="Channel simulators elsewhere; default in dev mode: mounted under /sim/."
    )
    business_utc_offset_hours: int = Field(8, description="The shops' day for daily limits (Beijing: 8).")
    operator_max_failed_sign_ins: int = Field(
        5, gt=0, description="Wrong operator passwords in a row (sign-in or supervisor check) that lock the operator."
    )
    operator_lockout_s: float = Field(
        900.0, gt=0, description="How long a locked operator is refused, right password or not (a reset unlocks)."
    )
    unionpay_refund_window_days: int = Field(
        365,
        gt=0,
        description="Days after a payment UnionPay takes a refund: the merchant's contract says (not published); "
        "WeChat's (365) and Alipay's (90) are fixed.",
    )
    fee_rate_bp: dict[Channel, int] = Field(
        default_factory=lambda: dict(DEFAULT_FEE_RATES_BP),
        description="Per channel: the fee rate in basis points (60 = 0.60 %) of merchants that set none of their own.",
    )
    refund_returns_fee: dict[Channel, bool] = Field(
        default_factory=lambda: dict(DEFAULT_REFUND_RETURNS_FEE),
        description="Per channel: whether a refund gives back the fee in proportion (WeChat and Alipay do).",
    )
    reconcile_daily: bool = Field(
        True, description="Reconcile yesterday on every channel by itself each day (one instance runs the job)."
    )
    reconcile_daily_at: time = Field(
        time(10, 0),
        description="Beijing time of the daily reconciliation, HH:MM (the channels build their bills from 09:00).",
    )
    scan_session_ttl_s: float = Field(120.0, gt=0, description="How long a B-scan-C scan session waits for a code.")
    camera_max_frame_bytes: int = Field(2 * 1024 * 1024, gt=0, description="Largest JPEG a camera may stream.")
    camera_max_fps: float = Field(15.0, gt=0, description="Frames per second a camera stream may send.")
    camera_max_streams: int = Field(8, gt=0, description="Camera frame streams decoded at once by this instance.")
    camera_idle_timeout_s: float = Field(30.0, gt=0, description="A camera stream without frames this long is closed.")
    ws_ticket_ttl_s: float = Field(30.0, gt=0, description="How long a terminal's websocket ticket stays valid.")
    ws_heartbeat_s: float = Field(20.0, gt=0, description="Server pings this often; two missed pongs close.")
    ws_max_lifetime_s: float = Field(3600.0, gt=0, description="A websocket is closed (1001) after this long.")
    ws_queue_limit: int = Field(256, gt=0, description="Undelivered events one websocket may fall behind by.")
    gc_thaw_interval_s: float = Field(
        3600.0,
        ge=0,
        description="Objects that survive a full garbage collection are frozen out of later ones (with 10,000 "
        "websockets a full collection otherwise pauses them all for over a second); this often everything is "
        "thawed and looked at once. 0: never freeze.",
    )
    webhook_retry_s: list[float] = Field(
        default_factory=lambda: [float(s) for s in WEBHOOK_RETRY_LADDER_S],
        description="Seconds before each retry of a merchant webhook (before time_scale); WeChat's ~24 h ladder.",
    )
    webhook_timeout_s: float = Field(10.0, gt=0, description="HTTP timeout of one webhook POST.")
    log_level: str = "INFO"
    log_json: bool = True

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.var_dir / 'gateway.db'}"

    @property
    def dev_secret_key_path(self) -> Path:
        """Where dev mode keeps the secret key it generates; a var dir holding one is a dev var dir."""
        return self.var_dir / "secret-key"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def should_migrate_on_start(self) -> bool:
        return self.auto_migrate if self.auto_migrate is not None else self.is_sqlite

    @property
    def base_url(self) -> str:
        return self.public_base_url or f"http://{self.host}:{self.port}"
