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
from gateway.api.deps import MERCHANT_AUTH, MerchantDep, WebhooksDep, only_query_params
from gateway.api.problems import problem_responses
from gateway.domain.errors import NotFound
from gateway.services.webhooks import DeliveryView

router = APIRouter(prefix="/v1/webhook", tags=["Webhooks"])


@router.put(
    "",
    operation_id="setWebhookEndpoint",
    summary="Set the notify URL (a new signing secret is returned once)",
    response_model=WebhookEndpointOut,
    responses=problem_responses(
        *MERCHANT_AUTH,
        "validation_error",
        "invalid_webhook_url",
        "webhook_url_not_allowed",
        "webhook_url_unresolvable",
    ),
)
async def set_endpoint(body: WebhookEndpointIn, webhooks: WebhooksDep, merchant: MerchantDep) -> WebhookEndpointOut:
    """Where this merchant's events are POSTed (replacing any URL set before). The answer carries a new signing
    secret, shown this once: check each delivery's signature header with it. The host must resolve to public
    addresses only (outside dev mode), checked now and again, pinned, at every delivery.
    """
    return WebhookEndpointOut.model_validate(await webhooks.register(merchant.id, body.url))


@router.get(
    "",
    operation_id="getWebhookEndpoint",
    summary="The notify URL",
    response_model=WebhookEndpointOut,
    responses=problem_responses(*MERCHANT_AUTH, "webhook_not_set"),
)
async def get_endpoint(webhooks: WebhooksDep, merchant: MerchantDep) -> WebhookEndpointOut:
    """The notify URL set for this merchant (without its secret, which is shown only when it is set)."""
    endpoint = await webhooks.endpoint(merchant.id)
    if endpoint is None:
        raise NotFound("no notify URL is set", code="webhook_not_set")
    return WebhookEndpointOut.model_validate(endpoint)


@router.delete(
    "",
    operation_id="deleteWebhookEndpoint",
    summary="Stop webhooks (pending deliveries give up)",
    status_code=204,
    responses=problem_responses(*MERCHANT_AUTH, "webhook_not_set"),
)
async def delete_endpoint(webhooks: WebhooksDep, merchant: MerchantDep) -> Response:
    """No more webhooks for this merchant: deliveries still pending give up; their record stays."""
    if not await webhooks.remove(merchant.id):
        raise NotFound("no notify URL is set", code="webhook_not_set")
    return Response(status_code=204)


@router.get(
    "/deliveries",
    operation_id="listWebhookDeliveries",
    summary="Webhook deliveries with every attempt, newest first",
    response_model=WebhookDeliveryPageOut,
    responses=problem_responses(*MERCHANT_AUTH, "validation_error", "unknown_parameter"),
    dependencies=[only_query_params("order_id", "limit")],
)
async def list_deliveries(
    webhooks: WebhooksDep,
    merchant: MerchantDep,
    order_id: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> WebhookDeliveryPageOut:
    """What was owed to the notify URL and what became of it: each delivery (`pending`, `delivered`, `failed`)
    with every attempt's status code or error, newest first; `order_id` narrows it to one order's events.
    """
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
