"""HTTP API of the Order Service: `POST /orders`; health, metrics and docs come with the app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from order_platform.building_blocks.auth.bearer_auth import (
    AUTH_OFF,
    SCOPE_WRITE,
    Authenticator,
    Caller,
    auth_problem_responses,
    install_auth_problems,
    require_scope,
)
from order_platform.building_blocks.auth.rate_limit import (
    NO_RATE_LIMIT,
    RateLimit,
    install_rate_limit_problem,
)
from order_platform.building_blocks.http.current_api import current_api
from order_platform.building_blocks.http.json_body import JsonBody
from order_platform.building_blocks.http.problem import (
    Detail,
    DetailTable,
    FieldError,
    install_details,
    problem_responses,
)
from order_platform.building_blocks.http.service_app import Started, service_app
from order_platform.contracts import OrderResponse, order_json
from order_platform.order_service.application.create_order import CreateOrderHandler
from order_platform.order_service.application.idempotency import (
    IdempotencyKeyReused,
    RequestInFlight,
)
from order_platform.order_service.application.ports import (
    StorageUnavailable,
    StoredOrders,
    WriteOutcomeUnknown,
)
from order_platform.order_service.domain import InvalidOrderField
from order_platform.order_service.entrypoints.internal_api import internal_router
from order_platform.order_service.entrypoints.schemas import (
    CREATED,
    CreateOrderRequest,
    IdempotencyKey,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OrderServiceApi:
    """What the HTTP layer needs from the composition root."""

    create_order: CreateOrderHandler
    location_base_url: str  # without a trailing slash; empty for relative `Location`s
    stored_orders: StoredOrders | None = None  # the operators' export; None: not offered
    auth: Authenticator = AUTH_OFF
    rate_limit: RateLimit = NO_RATE_LIMIT


router = APIRouter(tags=["orders"])
Api = Annotated[OrderServiceApi, Depends(current_api)]
order_body = JsonBody(CreateOrderRequest, what="the order")


async def order_writer(
    request: Request, api: Api, caller: Annotated[Caller, Depends(require_scope(SCOPE_WRITE))]
) -> Caller:
    """Who creates the order: a token with `orders:write`, within the caller's rate limit
    (counted per `sub`, or per client address while auth is off). Before the body is read:
    `create_order` declares it before its body, and nothing reads ahead (`BodySizeLimit`
    counts as the route reads), so a refused caller never waits for a body (guarantee 11)."""
    client = request.client.host if request.client else "unknown"
    await api.rate_limit.hit(f"sub:{caller.subject}" if caller.subject else f"addr:{client}")
    return caller


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderResponse,
    responses={
        201: CREATED,
        **auth_problem_responses(),
        **problem_responses(
            409,
            413,
            415,
            422,
            429,
            500,
            503,
            retry_after=(409, 429, 503),
            s409="A request with this Idempotency-Key is in flight.",
        ),
    },
    openapi_extra=order_body.openapi,
)
async def create_order(
    caller: Annotated[Caller, Depends(order_writer)],
    body: Annotated[CreateOrderRequest, Depends(order_body)],
    api: Api,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    created = await api.create_order(body.to_command(idempotency_key, caller.subject))
    order = created.order
    log.info("order_accepted", order_id=str(order.id), replayed=created.replayed)
    headers = {"Location": f"{api.location_base_url}/orders/{order.id}"}
    if created.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(order_json(order), status_code=201, headers=headers)


# What to tell the caller; status, problem type and Retry-After come with each category.
DETAILS: DetailTable = {
    InvalidOrderField: lambda error: Detail(
        errors=[FieldError(field=CreateOrderRequest.api_field(error.field), message=error.message)]
    ),
    IdempotencyKeyReused: "This Idempotency-Key was first used with a different request body.",
    RequestInFlight: Detail(
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        retry_after=1,
    ),
    WriteOutcomeUnknown: (
        "The order store answered too late: the order may or may not have been stored. "
        "Retry with the same Idempotency-Key to find out; without one, check before retrying."
    ),
    StorageUnavailable: "The order store is unavailable; nothing was stored. Retry later.",
}


def create_app(start: Callable[[], Awaitable[Started[OrderServiceApi]]]) -> FastAPI:
    app = service_app(
        title="Order Service",
        summary="Command side of the order platform: accepts orders, publishes OrderCreated.",
        start=start,
    )
    install_details(app, DETAILS)
    install_auth_problems(app)
    install_rate_limit_problem(app)
    app.include_router(router)
    app.include_router(internal_router)
    return app
