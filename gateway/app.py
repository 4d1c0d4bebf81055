"""The application factory: wires settings, storage, services and routers into one FastAPI app."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from gateway import __version__
from gateway.api import (
    cameras,
    events,
    fees,
    operators,
    ops,
    orders,
    payments,
    qr,
    receipts,
    reconciliations,
    refunds,
    reports,
    settlements,
    transactions,
    webhooks,
)
from gateway.api.docs import install_docs
from gateway.api.middleware import RequestContextMiddleware
from gateway.api.payment_schemas import document_amount_limit
from gateway.api.problems import document_problems, install_problem_handlers
from gateway.config import Settings
from gateway.domain.signing import SIGNATURE_WINDOW_S
from gateway.persistence.migrate import upgrade
from gateway.runtime import Runtime
from gateway.services.demo import ensure_demo_merchant

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
#: uvicorn options for serving the app, wherever it is served. Terminal events are small JSON: per-message deflate
#: would cost each websocket ~45 KiB of zlib state for little gain (half the memory of 10,000 idle terminals). No
#: protocol pings: both websockets have their own liveness checks. Logging is configure_logging's, no access log.
SERVER_OPTIONS: dict[str, Any] = {
    "ws_per_message_deflate": False,
    "ws_ping_interval": None,
    "log_config": None,
    "access_log": False,
}

#: The README section on terminal signatures, linked from Swagger (a test checks the README has the heading).
SIGNING_SECTION = "README.md#terminals-signed-requests"

DESCRIPTION = f"""\
A QR-code aggregate payment gateway for WeChat Pay, Alipay and UnionPay.

**Merchants**: press *Authorize* and paste your API key (`mk_...`) into `MerchantApiKey`.
Amounts are integer **fen** (1/100 yuan); times are UTC (ISO 8601).
Errors are `application/problem+json` with a stable `code`; each operation lists the codes it answers with.

**Terminals** take no API key: every terminal request is signed with the terminal's key (`gateway terminals
create` prints it once), in four headers: `X-Terminal-Key` (the key id, `tk_...`), `X-Timestamp` (Unix seconds,
within {SIGNATURE_WINDOW_S} s of the gateway's clock), `X-Nonce` (16-64 characters of `A-Za-z0-9-_`, each accepted
once) and `X-Signature`: the lowercase hex HMAC-SHA256, keyed with the terminal secret, of the canonical request,
these five lines joined by `\\n`:

1. the method (`POST`);
2. the path with its query string exactly as sent, percent-encoding as on the wire (`/v1/payments/micropay`);
3. the timestamp, as in `X-Timestamp`;
4. the nonce, as in `X-Nonce`;
5. the lowercase hex SHA-256 of the exact body bytes (of the empty string when there is no body).

Swagger cannot sign requests: `gateway.client.TerminalClient` does it. A worked example is in the README:
[Terminals: signed requests]({SIGNING_SECTION}).
"""

#: Tags in the order Swagger shows them: the merchant's first, then the terminal's, then the rest.
TAGS = [
    {"name": "Orders", "description": "Look up your orders and their history (merchant API key)."},
    {"name": "Webhooks", "description": "Your notify URL and the deliveries to it (merchant API key)."},
    {"name": "Operators", "description": "Your cashiers and supervisors, who sign in on terminals (merchant API key)."},
    {"name": "Fees", "description": "The fee rate you pay on each channel (merchant API key)."},
    {"name": "Reports", "description": "Daily reports of your takings (merchant API key)."},
    {"name": "Reconciliation", "description": "Your days matched against the channels' bills (merchant API key)."},
    {"name": "Terminal payments", "description": "Signed terminal requests: take payments."},
    {
        "name": "Terminal",
        "description": "Signed terminal requests: the operator signed in, transactions, receipts, the settlement.",
    },
    {"name": "Terminal events", "description": "Signed terminal requests: the event stream (websocket, polling)."},
    {"name": "Cameras", "description": "A terminal's camera (camera key): codes it decoded, or its frames."},
    {"name": "Channel callbacks", "description": "Payment notifications from the channels (their own formats)."},
    {"name": "Operations", "description": "Health, readiness and metrics for operators of the gateway."},
]


async def start(runtime: Runtime) -> None:
    """Migrate (when configured), in dev mode make sure the demo merchant exists, and start the background work."""
    settings = runtime.settings
    if settings.should_migrate_on_start:
        await upgrade(runtime.db)
    if settings.dev_mode:
        credentials_path = settings.var_dir / "demo-credentials.json"
        seed = await ensure_demo_merchant(runtime.merchants, credentials_path, runtime.cameras)
        print(seed.banner(f"{settings.base_url}/docs"), flush=True)
    await runtime.reconciliations.schedule_daily()
    runtime.start_background()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else Settings()
    runtime = Runtime.build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await start(runtime)
        try:
            yield
        finally:
            await runtime.aclose()

    app = FastAPI(
        title="QR Pay Gateway",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        swagger_ui_parameters={"persistAuthorization": True, "displayRequestDuration": True},
        docs_url=None,  # served by install_docs from local assets
        redoc_url=None,
    )
    app.state.runtime = runtime
    for name, simulator in runtime.simulators.items():
        app.mount(f"/sim/{name}", simulator.app)
    install_problem_handlers(app)
    install_docs(app)
    _finish_openapi(app, settings)
    # The spec lists them in this order; refunds after the merchant's own (its terminal POST shares /v1/refunds).
    apis = (
        orders,
        webhooks,
        operators,
        fees,
        reports,
        reconciliations,
        refunds,
        payments,
        transactions,
        receipts,
        settlements,
        qr,
        events,
        cameras,
        ops,
    )
    for api in apis:
        app.include_router(api.router)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=MAX_BODY_BYTES)
    return app


def _finish_openapi(app: FastAPI, settings: Settings) -> None:
    """The spec as this gateway serves it: the problems of bodies, problem+json, and its configured amount limit."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = document_problems(generate(), MAX_BODY_BYTES)
            app.openapi_schema = document_amount_limit(spec, settings.max_amount_fen)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
