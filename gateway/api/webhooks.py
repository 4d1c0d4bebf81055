"""Merchant API: the notify URL for webhooks, and the record of every delivery and attempt."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from gateway.api.delivery_schemas import (
    WebhookAttemptOut,
    WebhookDeliveryOut,
    WebhookDeliveryPageOut,
    WebhookEndpointIn,
    WebhookEndpointOut,
)
from gateway.api.deps import MerchantDep, WebhooksDep, only_query_params
from gateway.api.problems import problem_responses
from gateway.domain.errors import NotFound
from gateway.services.webhooks import DeliveryView

router = APIRouter(prefix="/v1/webhook", tags=["Webhooks"], responses=problem_responses(401, 422))


@router.put(
    "",
    operation_id="setWebhookEndpoint",
    summary="Set the notify URL (a new signing secret is returned once)",
    response_model=WebhookEndpointOut,
)
async def set_endpoint(body: WebhookEndpointIn, webhooks: WebhooksDep, merchant: MerchantDep) -> WebhookEndpointOut:
    return WebhookEndpointOut.model_validate(await webhooks.register(merchant.id, body.url))


@router.get(
    "",
    operation_id="getWebhookEndpoint",
    summary="The notify URL",
    response_model=WebhookEndpointOut,
    responses=problem_responses(404),
)
async def get_endpoint(webhooks: WebhooksDep, merchant: MerchantDep) -> WebhookEndpointOut:
    endpoint = await webhooks.endpoint(merchant.id)
    if endpoint is None:
        raise NotFound("no notify URL is set", code="webhook_not_set")
    return WebhookEndpointOut.model_validate(endpoint)


@router.delete(
    "",
    operation_id="deleteWebhookEndpoint",
    summary="Stop webhooks (pending deliveries give up)",
    status_code=204,
    responses=problem_responses(404),
)
async def delete_endpoint(webhooks: WebhooksDep, merchant: MerchantDep) -> Response:
    if not await webhooks.remove(merchant.id):
        raise NotFound("no notify URL is set", code="webhook_not_set")
    return Response(status_code=204)


@router.get(
    "/deliveries",
    operation_id="listWebhookDeliveries",
    summary="Webhook deliveries with every attempt, newest first",
    response_model=WebhookDeliveryPageOut,
    dependencies=[only_query_params("order_id", "limit")],
)
async def list_deliveries(
    webhooks: WebhooksDep,
    merchant: MerchantDep,
    order_id: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> WebhookDeliveryPageOut:
    views = await webhooks.deliveries(merchant.id, limit, order_id)
    return WebhookDeliveryPageOut(items=[_delivery_out(view) for view in views])


def _delivery_out(view: DeliveryView) -> WebhookDeliveryOut:
    delivery = view.delivery
    return WebhookDeliveryOut(
        event_id=view.event_id,
        event=view.event.type,
        order_id=delivery.order_id,
        url=delivery.url,
        status=delivery.status,
        next_attempt_at=delivery.next_attempt_at,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
        attempts=[WebhookAttemptOut.model_validate(attempt) for attempt in view.attempts],
    )
