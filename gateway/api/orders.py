"""Merchant API: list and look up orders (API-key auth; a merchant sees only its own orders)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from gateway.api.deps import MERCHANT_AUTH, MerchantDep, OrdersDep, only_query_params
from gateway.api.problems import problem_responses
from gateway.api.schemas import OrderDetailOut, OrderOut, OrderPageOut
from gateway.domain.channels import Channel
from gateway.domain.orders import OrderStatus
from gateway.services.orders import OrderFilter

router = APIRouter(prefix="/v1/orders", tags=["Orders"])

_LIST_PARAMS = (
    "status",
    "channel",
    "terminal_id",
    "created_from",
    "created_to",
    "out_trade_no",
    "reference_no",
    "voucher_no",
    "batch_no",
    "limit",
    "cursor",
)
_SIX_DIGITS = "^[0-9]{6}$"


@router.get(
    "",
    operation_id="listOrders",
    summary="List orders, newest first",
    response_model=OrderPageOut,
    responses=problem_responses(*MERCHANT_AUTH, "validation_error", "unknown_parameter", "invalid_cursor"),
    dependencies=[only_query_params(*_LIST_PARAMS)],
)
async def list_orders(
    orders: OrdersDep,
    merchant: MerchantDep,
    status: OrderStatus | None = None,
    channel: Channel | None = None,
    terminal_id: Annotated[str | None, Query(max_length=32)] = None,
    created_from: Annotated[AwareDatetime | None, Query(description="Inclusive, with a timezone.")] = None,
    created_to: Annotated[AwareDatetime | None, Query(description="Exclusive, with a timezone.")] = None,
    out_trade_no: Annotated[str | None, Query(max_length=32, pattern="^[A-Za-z0-9]+$")] = None,
    reference_no: Annotated[str | None, Query(pattern="^[0-9]{12}$", description="参考号, 12 digits.")] = None,
    voucher_no: Annotated[
        str | None, Query(pattern=_SIX_DIGITS, description="凭证号; with `terminal_id` and `batch_no` for one order.")
    ] = None,
    batch_no: Annotated[str | None, Query(pattern=_SIX_DIGITS, description="批次号, 6 digits.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page, as given (opaque).")
    ] = None,
) -> OrderPageOut:
    """This merchant's orders, newest first, filtered; pages follow `next_cursor` (null on the last page).

    Every filter narrows the list; an unknown query parameter is refused rather than ignored. Failed orders say
    why in `failure_code` and `failure_detail`.
    """
    filters = OrderFilter(
        status, channel, terminal_id, created_from, created_to, out_trade_no, reference_no, voucher_no, batch_no
    )
    page = await orders.list_orders(merchant.id, filters, limit, cursor)
    return OrderPageOut(items=[OrderOut.model_validate(o) for o in page.items], next_cursor=page.next_cursor)


@router.get(
    "/{order_id}",
    operation_id="getOrder",
    summary="One order with its transition history",
    response_model=OrderDetailOut,
    responses=problem_responses(*MERCHANT_AUTH, "order_not_found"),
)
async def get_order(orders: OrdersDep, merchant: MerchantDep, order_id: str) -> OrderDetailOut:
    """One of this merchant's orders with every state change it went through (from, to, cause, actor, time),
    oldest first. Another merchant's order does not exist for this one (404).
    """
    return OrderDetailOut.model_validate(await orders.get_order(merchant.id, order_id))
