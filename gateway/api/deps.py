"""FastAPI dependencies: the runtime, merchant API-key authentication and terminal request signatures."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader
from starlette.requests import HTTPConnection

from gateway.domain.errors import InvalidInput, Unauthenticated
from gateway.services.admission import Admission
from gateway.services.cameras import CameraService
from gateway.services.health import Readiness
from gateway.services.merchants import MerchantService
from gateway.services.operators import OperatorService
from gateway.services.orders import OrderQueries
from gateway.services.payments import PaymentService
from gateway.services.qr_images import QrImageCache
from gateway.services.qr_payments import QrPaymentService
from gateway.services.receipts import ReceiptService
from gateway.services.records import Merchant
from gateway.services.terminal_events import TerminalEvents
from gateway.services.terminals import SignedRequest, TerminalContext, TerminalService
from gateway.services.transactions import TerminalTransactions
from gateway.services.webhooks import WebhookService

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="MerchantApiKey",
    description="The merchant API key, `mk_<prefix>_<secret>`, shown once when the merchant is created.",
)


def _runtime_part(name: str) -> Any:
    """A dependency giving a route one part of the running gateway (a service), not the whole runtime.

    Async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request.
    """

    async def part(connection: HTTPConnection) -> Any:
        return getattr(connection.app.state.runtime, name)

    return Depends(part)


# Who is calling.
MerchantsDep = Annotated[MerchantService, _runtime_part("merchants")]
TerminalsDep = Annotated[TerminalService, _runtime_part("terminals")]
OperatorsDep = Annotated[OperatorService, _runtime_part("operators")]
# Taking payments, B-scan-C and C-scan-B.
AdmissionDep = Annotated[Admission, _runtime_part("micropay_admission")]
PaymentsDep = Annotated[PaymentService, _runtime_part("payments")]
QrPaymentsDep = Annotated[QrPaymentService, _runtime_part("qr_payments")]
TransactionsDep = Annotated[TerminalTransactions, _runtime_part("transactions")]
ReceiptsDep = Annotated[ReceiptService, _runtime_part("receipts")]
QrImagesDep = Annotated[QrImageCache, _runtime_part("qr_images")]
CamerasDep = Annotated[CameraService, _runtime_part("cameras")]
# Looking things up and hearing of them.
OrdersDep = Annotated[OrderQueries, _runtime_part("orders")]
EventsDep = Annotated[TerminalEvents, _runtime_part("events")]
WebhooksDep = Annotated[WebhookService, _runtime_part("webhooks")]
ReadinessDep = Annotated[Readiness, _runtime_part("readiness")]


async def current_merchant(
    merchants: MerchantsDep, api_key: Annotated[str | None, Security(api_key_header)]
) -> Merchant:
    if not api_key:
        raise Unauthenticated("send the merchant API key in the X-API-Key header", code="missing_api_key")
    merchant = await merchants.authenticate_api_key(api_key)
    if merchant is None:
        raise Unauthenticated("the API key is not valid", code="invalid_api_key")
    return merchant


MerchantDep = Annotated[Merchant, Depends(current_merchant)]
#: The problems a merchant request is refused with when its API key is not right (`problem_responses`).
MERCHANT_AUTH = ("missing_api_key", "invalid_api_key")


def only_query_params(*allowed: str) -> Any:
    """A dependency refusing query parameters the route does not know (a typo must not widen a search)."""

    async def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - set(allowed))
        if unknown:
            raise InvalidInput(f"unknown query parameter(s): {', '.join(unknown)}", code="unknown_parameter")

    return Depends(check)


async def current_terminal(
    request: Request,
    terminals: TerminalsDep,
    x_terminal_key: Annotated[str | None, Header(description="The terminal's key id, `tk_...`.")] = None,
    x_timestamp: Annotated[str | None, Header(description="Unix seconds; within 300 s of the gateway's clock.")] = None,
    x_nonce: Annotated[
        str | None, Header(description="16-64 random letters, digits, '-' or '_'; never reused.")
    ] = None,
    x_signature: Annotated[
        str | None,
        Header(description="Lowercase hex HMAC-SHA256, keyed with the terminal secret, of the canonical request."),
    ] = None,
) -> TerminalContext:
    """The terminal whose signature this request carries; a request without the signature headers is a 401."""
    sent = {
        "X-Terminal-Key": x_terminal_key,
        "X-Timestamp": x_timestamp,
        "X-Nonce": x_nonce,
        "X-Signature": x_signature,
    }
    missing = [name for name, value in sent.items() if value is None]
    if missing:
        raise Unauthenticated(
            f"signed terminal requests carry {', '.join(sent)}; missing: {', '.join(missing)}", code="missing_signature"
        )
    assert x_terminal_key is not None and x_timestamp is not None and x_nonce is not None and x_signature is not None
    path = signed_path(request)
    signed = SignedRequest(
        x_terminal_key, x_timestamp, x_nonce, x_signature, request.method, path, await request.body()
    )
    return await terminals.authenticate(signed)


def signed_path(request: Request) -> str:
    """The path the terminal signed: exactly as sent, percent-encoding and query included, as it was routed.

    The decoded path would let `/v1/payments/ord_X%0A` verify as `/v1/payments/ord_X`; a path whose decoded
    form holds a control character is refused outright.
    """
    routed: str = request.scope["path"]  # decoded; request.url would drop TAB, CR and LF (urlsplit does)
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in routed):
        raise Unauthenticated("the request path holds a control character", code="invalid_path")
    raw: bytes = request.scope.get("raw_path") or routed.encode()
    query: bytes = request.scope.get("query_string", b"")
    return raw.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")


TerminalDep = Annotated[TerminalContext, Depends(current_terminal)]
#: The problems a signed terminal request is refused with when its signature is not right (`problem_responses`).
TERMINAL_AUTH = (
    "missing_signature",
    "invalid_path",
    "unknown_terminal_key",
    "invalid_signature",
    "invalid_timestamp",
    "stale_timestamp",
    "invalid_nonce",
    "replayed_nonce",
)
