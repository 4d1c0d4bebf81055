"""FastAPI dependencies: the runtime, merchant API-key authentication and terminal request signatures."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request, Security
from fastapi.security import APIKeyHeader

from gateway.domain.errors import InvalidInput, Unauthenticated
from gateway.persistence.tables import Merchant
from gateway.runtime import Runtime
from gateway.services.terminals import SignedRequest, TerminalContext

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    scheme_name="MerchantApiKey",
    description="The merchant API key, `mk_<prefix>_<secret>`, shown once when the merchant is created.",
)


async def get_runtime(request: Request) -> Runtime:
    """Async on purpose: FastAPI runs a plain `def` dependency in its thread pool, a thread hop per request."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def current_merchant(runtime: RuntimeDep, api_key: Annotated[str | None, Security(api_key_header)]) -> Merchant:
    if not api_key:
        raise Unauthenticated("send the merchant API key in the X-API-Key header", code="missing_api_key")
    merchant = await runtime.merchants.authenticate_api_key(api_key)
    if merchant is None:
        raise Unauthenticated("the API key is not valid", code="invalid_api_key")
    return merchant


MerchantDep = Annotated[Merchant, Depends(current_merchant)]


def only_query_params(*allowed: str) -> Any:
    """A dependency refusing query parameters the route does not know (a typo must not widen a search)."""

    async def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - set(allowed))
        if unknown:
            raise InvalidInput(f"unknown query parameter(s): {', '.join(unknown)}", code="unknown_parameter")

    return Depends(check)


async def current_terminal(
    request: Request,
    runtime: RuntimeDep,
    x_terminal_key: Annotated[str, Header(description="The terminal's key id, `tk_...`.")],
    x_timestamp: Annotated[str, Header(description="Unix seconds; within 300 s of the gateway's clock.")],
    x_nonce: Annotated[str, Header(description="16-64 random letters, digits, '-' or '_'; never reused.")],
    x_signature: Annotated[str, Header(description="Hex HMAC-SHA256 of the canonical request (see README).")],
) -> TerminalContext:
    """The terminal whose signature this request carries."""
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    signed = SignedRequest(
        x_terminal_key, x_timestamp, x_nonce, x_signature, request.method, path, await request.body()
    )
    return await runtime.terminals.authenticate(signed)


TerminalDep = Annotated[TerminalContext, Depends(current_terminal)]
