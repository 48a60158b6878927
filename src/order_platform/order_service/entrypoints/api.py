"""HTTP API of the Order Service: `POST /orders`, the commands of an order's life
(`POST /orders/{id}/confirm|ship|cancel`) and `GET /orders/{id}` (the write model's state);
health, metrics and docs come with the app, and `/asyncapi.json`, the events' document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from order_platform.building_blocks.auth.bearer_auth import (
    AUTH_OFF,
    SCOPE_ADMIN,
    SCOPE_READ,
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
from order_platform.contracts import OrderStateResponse, order_state_json
from order_platform.order_service.application.change_order import (
    ChangedOrder,
    ChangeOrderHandler,
    VersionCondition,
    VersionMismatch,
)
from order_platform.order_service.application.create_order import CreateOrderHandler
from order_platform.order_service.application.get_order import GetOrderHandler
from order_platform.order_service.application.idempotency import (
    IdempotencyKeyReused,
    RequestInFlight,
)
from order_platform.order_service.application.order_access import OrderNotFound, Requester
from order_platform.order_service.application.ports import (
    OrderChangedMeanwhile,
    StorageUnavailable,
    StoredOrders,
    WriteOutcomeUnknown,
)
from order_platform.order_service.domain import InvalidOrderField, Order, TransitionNotAllowed
from order_platform.order_service.entrypoints.asyncapi import asyncapi_router
from order_platform.order_service.entrypoints.etags import InvalidIfMatch, etag, version_condition
from order_platform.order_service.entrypoints.internal_api import internal_router
from order_platform.order_service.entrypoints.schemas import (
    CHANGED,
    CREATED,
    ETAG_HEADER,
    CancelOrderRequest,
    ConfirmOrderRequest,
    CreateOrderRequest,
    IdempotencyKey,
    IfMatch,
    OrderStateProblem,
    ShipOrderRequest,
    api_field,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OrderServiceApi:
    """What the HTTP layer needs from the composition root."""

    create_order: CreateOrderHandler
    change_order: ChangeOrderHandler
    get_order: GetOrderHandler
    location_base_url: str  # without a trailing slash; empty for relative `Location`s
    stored_orders: StoredOrders | None = None  # the operators' export; None: not offered
    auth: Authenticator = AUTH_OFF
    rate_limit: RateLimit = NO_RATE_LIMIT


router = APIRouter(tags=["orders"])
Api = Annotated[OrderServiceApi, Depends(current_api)]
order_body = JsonBody(CreateOrderRequest, what="the order")


async def _within_rate_limit(request: Request, api: OrderServiceApi, caller: Caller) -> Caller:
    """Counts the request against the caller's limit (per `sub`, or per client address while
    auth is off; one budget for creating and changing orders). The dependencies below run it
    before the body is read: a route declares them before its body, and nothing reads ahead
    (`BodySizeLimit` counts as the route reads), so a refused caller never waits for a body
    (guarantee 11)."""
    client = request.client.host if request.client else "unknown"
    await api.rate_limit.hit(f"sub:{caller.subject}" if caller.subject else f"addr:{client}")
    return caller


async def order_writer(
    request: Request, api: Api, caller: Annotated[Caller, Depends(require_scope(SCOPE_WRITE))]
) -> Caller:
    """Who creates an order: a token with `orders:write`, within its rate limit."""
    return await _within_rate_limit(request, api, caller)


async def order_admin(
    request: Request, api: Api, caller: Annotated[Caller, Depends(require_scope(SCOPE_ADMIN))]
) -> Caller:
    """Who confirms and ships: a token with `orders:admin`, within its rate limit."""
    return await _within_rate_limit(request, api, caller)


async def order_canceller(
    request: Request,
    api: Api,
    caller: Annotated[Caller, Depends(require_scope(SCOPE_WRITE, SCOPE_ADMIN))],
) -> Caller:
    """Who cancels: the owner with `orders:write` (the use case finds another customer's order
    unknown), or `orders:admin`; within the rate limit."""
    return await _within_rate_limit(request, api, caller)


async def if_match_condition(if_match: IfMatch = None) -> VersionCondition | None:
    """The condition a command's `If-Match` sets; a header that is no list of entity tags is
    a 422 naming it, as an invalid Idempotency-Key is."""
    try:
        return None if if_match is None else version_condition(if_match)
    except InvalidIfMatch as error:
        raise RequestValidationError(
            [{"loc": ("header", "If-Match"), "msg": str(error), "type": "value_error"}]
        ) from error


def requester(caller: Caller) -> Requester:
    """The caller in the application's terms: `orders:admin` (or auth off) acts on every order."""
    return Requester(caller.subject, acts_on_every_order=caller.has(SCOPE_ADMIN))


Condition = Annotated[VersionCondition | None, Depends(if_match_condition)]
Admin = Annotated[Caller, Depends(order_admin)]


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderStateResponse,
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
    headers = {
        "Location": f"{api.location_base_url}/orders/{order.id}",
        "ETag": etag(order.version),
    }
    if created.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(order_state_json(order), status_code=201, headers=headers)


@router.get(
    "/orders/{order_id}",
    response_model=OrderStateResponse,
    responses={
        200: {"description": "The order as the write model holds it now.", "headers": ETAG_HEADER},
        **auth_problem_responses(),
        **problem_responses(
            404, 422, 503, retry_after=(503,), s404="Unknown, or placed by another customer."
        ),
    },
)
async def get_order(
    order_id: UUID,
    caller: Annotated[Caller, Depends(require_scope(SCOPE_READ, SCOPE_ADMIN))],
    api: Api,
) -> JSONResponse:
    """The order's current state, whose `ETag` a change's `If-Match` is compared with (the read
    service may lag behind it): the caller's own with `orders:read`, any with `orders:admin`."""
    order = await api.get_order(order_id, requester(caller))
    return _order_answer(order)


def _command_responses(s409: str) -> dict[int | str, dict[str, Any]]:
    conflict = "Not allowed from the order's status (`orderStatus`, `allowedCommands`), " + s409
    responses = {
        200: CHANGED,
        **auth_problem_responses(),
        **problem_responses(
            404,
            409,
            412,
            413,
            415,
            422,
            429,
            500,
            503,
            retry_after=(409, 429, 503),
            s404="Unknown, or placed by another customer.",
            s409=conflict,
            s412="`If-Match` names another version: `currentVersion` and the `ETag` header say "
            "the current one.",
        ),
    }
    # Their problems carry the order's state (`OrderStateProblem`).
    responses[409] = {**responses[409], "model": OrderStateProblem}
    responses[412] = {**responses[412], "model": OrderStateProblem, "headers": ETAG_HEADER}
    return responses


IN_FLIGHT_OR_RACE = (
    "or another change was stored first (`order-changed-meanwhile`), or a request with this "
    "Idempotency-Key is in flight."
)
confirm_body = JsonBody(ConfirmOrderRequest, what="the command", optional=True)
ship_body = JsonBody(ShipOrderRequest, what="the command", optional=True)
cancel_body = JsonBody(CancelOrderRequest, what="the command", optional=True)


@router.post(
    "/orders/{order_id}/confirm",
    response_model=OrderStateResponse,
    responses=_command_responses(IN_FLIGHT_OR_RACE),
    openapi_extra=confirm_body.openapi,
)
async def confirm_order(
    order_id: UUID,
    caller: Admin,
    if_match: Condition,
    body: Annotated[ConfirmOrderRequest, Depends(confirm_body)],
    api: Api,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """placed → confirmed, with `orders:admin`."""
    command = body.to_command(order_id, requester(caller), if_match, idempotency_key)
    return _changed_answer(await api.change_order(command))


@router.post(
    "/orders/{order_id}/ship",
    response_model=OrderStateResponse,
    responses=_command_responses(IN_FLIGHT_OR_RACE),
    openapi_extra=ship_body.openapi,
)
async def ship_order(
    order_id: UUID,
    caller: Admin,
    if_match: Condition,
    body: Annotated[ShipOrderRequest, Depends(ship_body)],
    api: Api,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """confirmed → shipped, with `orders:admin`; the tracking number is optional."""
    command = body.to_command(order_id, requester(caller), if_match, idempotency_key)
    return _changed_answer(await api.change_order(command))


@router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderStateResponse,
    responses=_command_responses(IN_FLIGHT_OR_RACE),
    openapi_extra=cancel_body.openapi,
)
async def cancel_order(
    order_id: UUID,
    caller: Annotated[Caller, Depends(order_canceller)],
    if_match: Condition,
    body: Annotated[CancelOrderRequest, Depends(cancel_body)],
    api: Api,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """placed or confirmed → cancelled: the owner with `orders:write`, or `orders:admin`; the
    reason is optional."""
    command = body.to_command(order_id, requester(caller), if_match, idempotency_key)
    return _changed_answer(await api.change_order(command))


def _changed_answer(changed: ChangedOrder) -> JSONResponse:
    order = changed.order
    log.info(
        "order_changed",
        order_id=str(order.id),
        status=str(order.status),
        version=order.version,
        replayed=changed.replayed,
    )
    return _order_answer(order, replayed=changed.replayed)


def _order_answer(order: Order, *, replayed: bool = False) -> JSONResponse:
    headers = {"ETag": etag(order.version)}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(order_state_json(order), headers=headers)


def _current_version(version: int | None) -> Detail:
    """What a refused change says about the order's version, when it is known."""
    if version is None:
        return Detail("The order changed; read it again (GET /orders/{id}) and retry.")
    return Detail(
        f"The order is at version {version} now; read it again and retry.",
        members={"currentVersion": version},
        headers={"ETag": etag(version)},
    )


# What to tell the caller; status, problem type and Retry-After come with each category.
DETAILS: DetailTable = {
    InvalidOrderField: lambda error: Detail(
        errors=[FieldError(field=api_field(error.field), message=error.message)]
    ),
    OrderNotFound: lambda error: Detail(
        f"Order {error.order_id} is unknown, or placed by another customer."
    ),
    TransitionNotAllowed: lambda error: Detail(
        f"An order that is {error.status} cannot {error.command}.",
        members={
            "orderStatus": str(error.status),
            "allowedCommands": [str(command) for command in error.allowed],
        },
    ),
    VersionMismatch: lambda error: _current_version(error.current_version),
    OrderChangedMeanwhile: lambda error: _current_version(error.current_version),
    IdempotencyKeyReused: "This Idempotency-Key was first used with a different request body.",
    RequestInFlight: Detail(
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        retry_after=1,
    ),
    WriteOutcomeUnknown: (
        "The order store answered too late: the order or its change may or may not have been "
        "stored. Retry with the same Idempotency-Key to find out; without one, check before "
        "retrying."
    ),
    StorageUnavailable: "The order store is unavailable; nothing was stored. Retry later.",
}


def create_app(start: Callable[[], Awaitable[Started[OrderServiceApi]]]) -> FastAPI:
    app = service_app(
        title="Order Service",
        summary="Command side of the order platform: accepts orders and the changes of their "
        "life, publishes their events.",
        start=start,
    )
    install_details(app, DETAILS)
    install_auth_problems(app)
    install_rate_limit_problem(app)
    app.include_router(router)
    app.include_router(internal_router)
    app.include_router(asyncapi_router)
    return app
