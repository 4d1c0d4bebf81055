"""What one running gateway holds: settings, storage, channel adapters, services and background workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from httpx_aiohttp import AiohttpTransport

from adapters.protocol import ChannelAdapter
from adapters.registry import create_simulators, simulator_adapters
from adapters.simcore.app import ChannelSimulator
from gateway.config import Settings
from gateway.gc_policy import SurvivorFreezer
from gateway.persistence.database import Database
from gateway.services.admission import Admission
from gateway.services.cameras import CameraService
from gateway.services.credentials import SecretBox, write_private_file
from gateway.services.fees import FeeRates, FeeSchedule
from gateway.services.health import Readiness
from gateway.services.idempotency import IdempotencyStore
from gateway.services.jobs import STOP_GRACE_S, JobWorker
from gateway.services.merchants import MerchantService
from gateway.services.operators import OperatorService
from gateway.services.orders import OrderQueries
from gateway.services.payments import FOLLOW_UP_JOB, REVERSE_JOB, PaymentService
from gateway.services.qr_images import QrImageCache
from gateway.services.qr_payments import QR_EXPIRY_JOB, QR_SWEEP_JOB, QrPaymentService
from gateway.services.receipts import ReceiptService
from gateway.services.reconciliations import DAILY_RECONCILIATION_JOB, ReconciliationService
from gateway.services.refunds import REFUND_JOB, RefundService
from gateway.services.reports import ReportService
from gateway.services.settlements import SettlementService
from gateway.services.terminal_events import TerminalEvents
from gateway.services.terminals import TerminalService
from gateway.services.transactions import TerminalTransactions
from gateway.services.transitions import OrderWatch
from gateway.services.webhooks import WEBHOOK_JOB, WebhookService

log = logging.getLogger(__name__)

MAINTENANCE_INTERVAL_S = 60.0


class ConfigurationError(RuntimeError):
    """The settings cannot work; the message says which one to fix."""


@dataclass
class Runtime:
    settings: Settings
    db: Database
    channel_http: httpx.AsyncClient
    webhook_http: httpx.AsyncClient
    simulators: dict[str, ChannelSimulator]
    adapters: dict[str, ChannelAdapter]
    merchants: MerchantService
    operators: OperatorService
    orders: OrderQueries
    terminals: TerminalService
    idempotency: IdempotencyStore
    payments: PaymentService
    qr_payments: QrPaymentService
    transactions: TerminalTransactions
    refunds: RefundService
    receipts: ReceiptService
    settlements: SettlementService
    reports: ReportService
    reconciliations: ReconciliationService
    fee_rates: FeeRates
    qr_images: QrImageCache
    cameras: CameraService
    worker: JobWorker
    events: TerminalEvents
    webhooks: WebhookService
    micropay_admission: Admission
    readiness: Readiness
    _background: list[asyncio.Task[None]] = field(default_factory=list)  # cancelled on close
    _maintenance_task: asyncio.Task[None] | None = None  # stopped between rounds on close
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        db = Database(settings.effective_database_url, settings.sqlite_synchronous)
        box = SecretBox(master_secret(settings))
        limits = httpx.Limits(max_connections=256, max_keepalive_connections=128)
        # Channel calls are on every payment's path: httpx's API over aiohttp's connection pool. With 32 calls in
        # flight httpx's own pool (httpcore on anyio) cost 1.7 ms of CPU per call, this transport 0.3 ms.
        channel_http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.channel_timeout_s), transport=AiohttpTransport(limits=limits)
        )
        # Webhooks keep httpx's own transport: its errors name what failed (a refused connection is ConnectError).
        # Each POST goes to the checked address, so the pool is keyed by address: none is kept alive, or a connection
        # verified for one merchant's host name would carry another's request for a host on the same address.
        webhook_http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.channel_timeout_s),
            limits=httpx.Limits(max_connections=limits.max_connections, max_keepalive_connections=0),
        )
        simulators = create_simulators(settings.var_dir) if settings.dev_mode and not settings.channel_base_urls else {}
        base_urls: dict[str, str] = {str(name): url for name, url in settings.channel_base_urls.items()}
        base_urls = base_urls or {name: f"{settings.base_url}/sim/{name}" for name in simulators}
        adapters = simulator_adapters(settings.var_dir, base_urls, channel_http, settings.channel_timeout_s)
        worker = JobWorker(db, poll_interval_s=max(0.05, min(1.0, settings.time_scale)))
        operators = OperatorService(
            db, settings.operator_max_failed_sign_ins, timedelta(seconds=settings.operator_lockout_s)
        )
        payments = PaymentService(db, adapters, settings, OrderWatch(), box.fingerprint, worker.wake)
        worker.register(FOLLOW_UP_JOB, payments.run_follow_up)
        worker.register(REVERSE_JOB, payments.run_reverse)
        refunds = RefundService(db, adapters, settings, operators.verify_supervisor)
        worker.register(REFUND_JOB, refunds.run)
        # A scanning app is sent to its channel's payment page: with simulated channels, the simulator's wallet.
        pay_pages = {name: f"{url.rstrip('/')}/_sim/wallet" for name, url in base_urls.items()}
        qr_payments = QrPaymentService(db, adapters, settings, payments, refunds, pay_pages, worker.wake)
        worker.register(QR_SWEEP_JOB, qr_payments.run_sweep)
        worker.register(QR_EXPIRY_JOB, qr_payments.run_expiry)
        transactions = TerminalTransactions(db, payments, qr_payments)
        webhooks = WebhookService(db, box, webhook_http, settings)
        worker.register(WEBHOOK_JOB, webhooks.run_job)
        daily_at = settings.reconcile_daily_at if settings.reconcile_daily else None
        reconciliations = ReconciliationService(db, adapters, transactions, refunds, worker.wake, daily_at)
        worker.register(DAILY_RECONCILIATION_JOB, reconciliations.run_daily)
        events = TerminalEvents(
            db, settings.ws_queue_limit, settings.ws_ticket_ttl_s, settings.ws_heartbeat_s, settings.ws_max_lifetime_s
        )
        return cls(
            settings=settings,
            db=db,
            channel_http=channel_http,
            webhook_http=webhook_http,
            simulators=simulators,
            adapters=adapters,
            merchants=MerchantService(db, box),
            operators=operators,
            orders=OrderQueries(db),
            terminals=TerminalService(db, box),
            idempotency=IdempotencyStore(db),
            payments=payments,
            qr_payments=qr_payments,
            transactions=transactions,
            refunds=refunds,
            receipts=ReceiptService(db),
            settlements=SettlementService(db),
            reports=ReportService(db),
            reconciliations=reconciliations,
            fee_rates=FeeRates(db, FeeSchedule(settings)),
            qr_images=QrImageCache(),
            cameras=CameraService(db, payments, settings),
            worker=worker,
            events=events,
            webhooks=webhooks,
            micropay_admission=Admission(settings.micropay_max_in_flight, "payments"),
            readiness=Readiness(db),
        )

    def start_background(self) -> None:
        """The job worker (which resumes whatever was due when we stopped) and housekeeping."""
        self.worker.start()
        self.events.start()
        loop = asyncio.get_running_loop()
        self._maintenance_task = loop.create_task(self._maintenance(), name="maintenance")
        if self.settings.gc_thaw_interval_s > 0:
            freezer = SurvivorFreezer(self.settings.gc_thaw_interval_s)
            self._background.append(loop.create_task(freezer.run(), name="gc-freezer"))

    async def _maintenance(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.terminals.forget_old_nonces()
                await self.idempotency.forget_older_than(timedelta(days=1))
            except Exception:
                log.exception("maintenance round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), MAINTENANCE_INTERVAL_S)

    async def aclose(self) -> None:
        await self.worker.stop()
        self.cameras.close()
        await self.events.aclose()
        self._stopping.set()
        if self._maintenance_task is not None:  # its round finishes: a query cancelled mid-way outlives the engine
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._maintenance_task, STOP_GRACE_S)
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for simulator in self.simulators.values():
            await simulator.aclose()
        await self.channel_http.aclose()
        await self.webhook_http.aclose()
        await self.db.dispose()


def master_secret(settings: Settings) -> str:
    """GATEWAY_SECRET_KEY, or in dev mode one generated once and kept in var/secret-key."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    if not settings.dev_mode:
        raise ConfigurationError("set GATEWAY_SECRET_KEY (it encrypts terminal keys at rest)")
    path = settings.dev_secret_key_path
    if not path.exists():
        write_private_file(path, secrets.token_urlsafe(32))
    return path.read_text().strip()
