"""The committed OpenAPI spec: rendered from the app the same way every time, so drift is a diff."""

from __future__ import annotations

import json
import secrets

from pydantic import SecretStr

from gateway.config import Settings


def render_openapi() -> str:
    """The spec of an app with default settings (no dev-only routes), as stable pretty-printed JSON."""
    from gateway.app import create_app

    throwaway_key = SecretStr(secrets.token_urlsafe(16))  # nothing is encrypted: the app never starts
    app = create_app(Settings(dev_mode=False, secret_key=throwaway_key, database_url="sqlite://"))
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"
