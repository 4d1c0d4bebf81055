"""Building the app: the documentation pages, and nothing of an app outliving it."""

from __future__ import annotations

import gc
import weakref

import httpx

from gateway.app import create_app
from gateway.config import Settings


async def test_docs_pages_point_at_the_schema_and_local_assets(client: httpx.AsyncClient) -> None:
    for path, script in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert "/openapi.json" in page.text and f"/docs-assets/{script}" in page.text
        assert (await client.get(f"/docs-assets/{script}")).status_code == 200


async def test_a_dropped_app_is_freed(settings: Settings) -> None:
    # FastAPI caches endpoint callables process-wide; an endpoint closing over its app kept every app alive
    # (the test suite builds hundreds), and the growing heap made full collections take over a second.
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        pass
    freed = weakref.ref(app)
    del app
    gc.collect()
    assert freed() is None
