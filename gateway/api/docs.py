"""Swagger UI and ReDoc served from a Python package instead of a CDN, so /docs works on a closed network."""

from __future__ import annotations

import importlib.resources

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
SCHEMA_URL = "/openapi.json"  # FastAPI's default, which the app keeps


def install_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc with their JavaScript and CSS from fastapi-offline's bundled copies."""
    static = importlib.resources.files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(static)), name="docs-assets")
    # The pages read the app from the request: FastAPI caches endpoint callables process-wide, so a closure
    # over `app` would keep every app ever built alive (the test suite builds hundreds).
    app.add_api_route("/docs", swagger_ui, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)


async def swagger_ui(request: Request) -> HTMLResponse:
    app: FastAPI = request.app
    return get_swagger_ui_html(
        openapi_url=SCHEMA_URL,
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon.png",
        swagger_ui_parameters=app.swagger_ui_parameters,
    )


async def redoc(request: Request) -> HTMLResponse:
    script, icon = f"{ASSETS}/redoc.standalone.js", f"{ASSETS}/favicon.png"
    title = f"{request.app.title} - ReDoc"
    return get_redoc_html(openapi_url=SCHEMA_URL, title=title, redoc_js_url=script, redoc_favicon_url=icon)
