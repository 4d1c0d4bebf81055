"""A small Python client for terminals: signs every request the way the gateway checks it."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import httpx

from gateway.domain.signing import sign_request


def signed_headers(key_id: str, secret: str, method: str, path: str, body: bytes) -> dict[str, str]:
    """The four signature headers for one request; `path` includes the query string if there is one."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_urlsafe(18)
    return {
        "X-Terminal-Key": key_id,
        "X-Timestamp": timestamp,
        "X-Nonce": nonce,
        "X-Signature": sign_request(secret, method, path, timestamp, nonce, body),
    }


class TerminalClient:
    """Signed calls to the terminal API. Pass an httpx.AsyncClient to share its connection pool."""

    def __init__(self, base_url: str, key_id: str, secret: str, http: httpx.AsyncClient | None = None) -> None:
        self._key_id = key_id
        self._secret = secret
        self._http = http or httpx.AsyncClient(timeout=30.0)
        self._base_url = base_url.rstrip("/")

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        all_headers = {**signed_headers(self._key_id, self._secret, method, path, content), **(headers or {})}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        return await self._http.request(method, self._base_url + path, content=content, headers=all_headers)

    async def micropay(
        self,
        amount_fen: int,
        out_trade_no: str,
        auth_code: str,
        description: str = "",
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        body = {
            "amount_fen": amount_fen,
            "out_trade_no": out_trade_no,
            "auth_code": auth_code,
            "description": description,
        }
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return await self.request("POST", "/v1/payments/micropay", body, headers)

    async def get_payment(self, order_id: str) -> httpx.Response:
        return await self.request("GET", f"/v1/payments/{order_id}")

    async def sign_in(self, number: str, password: str) -> httpx.Response:
        return await self.request("PUT", "/v1/terminal/operator", {"number": number, "password": password})

    async def sign_out(self) -> httpx.Response:
        return await self.request("DELETE", "/v1/terminal/operator")

    async def events_ticket(self) -> httpx.Response:
        """A single-use ticket for the event websocket (`websocket_path` in the answer)."""
        return await self.request("POST", "/v1/terminal/events/ticket")

    async def poll_events(self, terminal_id: str, after: int, limit: int = 100) -> httpx.Response:
        return await self.request("GET", f"/v1/terminals/{terminal_id}/events?after={after}&limit={limit}")

    async def aclose(self) -> None:
        await self._http.aclose()
