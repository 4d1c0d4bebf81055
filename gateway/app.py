"""The application factory: wires settings, storage, services and routers into one FastAPI app."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from gateway import __version__
from gateway.api import cameras, events, ops, orders, payments, qr, webhooks
from gateway.api.docs import install_docs
from gateway.api.middleware import RequestContextMiddleware
from gateway.api.problems import document_problems, install_problem_handlers
from gateway.config import Settings
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

DESCRIPTION = """\
A QR-code aggregate payment gateway for WeChat Pay, Alipay and UnionPay.

**Merchants**: press *Authorize* and paste your API key (`mk_...`) into `MerchantApiKey`.
Amounts are integer **fen** (1/100 yuan); times are UTC (ISO 8601).
Errors are `application/problem+json` with a stable `code`.
"""

TAGS = [
    {"name": "Terminal payments", "description": "Signed terminal requests (see README): take payments."},
    {"name": "Terminal", "description": "Signed terminal requests: the operator signed in on the terminal."},
    {"name": "Cameras", "description": "A terminal's camera (camera key): codes it decoded, or its frames."},
    {"name": "Orders", "description": "Look up your orders and their history (merchant API key)."},
    {"name": "Terminal events", "description": "Signed terminal requests: the event stream (websocket, polling)."},
    {"name": "Webhooks", "description": "Your notify URL and the deliveries to it (merchant API key)."},
    {"name": "Channel callbacks", "description": "Payment notifications from the channels (their own formats)."},
    {"name": "Operations", "description": "Health, readiness and metrics for operators of the gateway."},
]


async def start(runtime: Runtime) -> None:
    """Migrate (when configured) and, in dev mode, make sure the demo merchant exists."""
    settings = runtime.settings
    if settings.should_migrate_on_start:
        await upgrade(runtime.db)
    if settings.dev_mode:
        credentials = await ensure_demo_merchant(
            runtime.merchants, settings.var_dir / "demo-credentials.json", runtime.cameras
        )
        print(
            f"Demo merchant {credentials['merchant_id']}: API key {credentials['api_key']}\n"
            f"Demo terminal {credentials['terminal_id']}: key {credentials['terminal_key_id']}\n"
            f"Demo camera {credentials['camera_id']} (its key is in the credentials file)\n"
            f"All demo credentials: {settings.var_dir / 'demo-credentials.json'}\n"
            f"Swagger: {settings.base_url}/docs",
            flush=True,
        )
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
    _document_problems_in_openapi(app)
    app.include_router(payments.router)
    app.include_router(qr.router)
    app.include_router(cameras.router)
    app.include_router(orders.router)
    app.include_router(events.router)
    app.include_router(webhooks.router)
    app.include_router(ops.router)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=MAX_BODY_BYTES)
    return app


def _document_problems_in_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
