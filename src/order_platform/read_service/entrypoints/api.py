"""HTTP API of the Order Read Service: `GET /orders`, `GET /orders/{id}`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import JSONResponse

from order_platform.building_blocks.auth.bearer_auth import (
    AUTH_OFF,
    SCOPE_ADMIN,
    SCOPE_READ,
    Authenticator,
    Caller,
    auth_problem_responses,
    install_auth_problems,
    require_scope,
)
from order_platform.building_blocks.http.current_api import current_api
from order_platform.building_blocks.http.problem import (
    Detail,
    DetailTable,
    FieldError,
    Problem,
    install_details,
    problem_responses,
)
from order_platform.building_blocks.http.service_app import Started, service_app
from order_platform.contracts import OrderStateResponse, order_state_json
from order_platform.read_service.application.ports import ReadModelUnavailable
from order_platform.read_service.application.queries import (
    GetOrder,
    ListOrders,
    ProjectionTimes,
)
from order_platform.read_service.entrypoints.cursor import (
    InvalidCursor,
    decode_cursor,
    encode_cursor,
)
from order_platform.read_service.entrypoints.internal_api import internal_router

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class ReadServiceApi:
    """What the HTTP layer needs from the composition root."""

    get_order: GetOrder
    list_orders: ListOrders
    projection_times: ProjectionTimes  # GET /internal/projections (internal_api.py)
    auth: Authenticator = AUTH_OFF


router = APIRouter(tags=["orders"])
Api = Annotated[ReadServiceApi, Depends(current_api)]


async def reader(
    caller: Annotated[Caller, Depends(require_scope(SCOPE_READ, SCOPE_ADMIN))],
) -> str | None:
    """Whose orders the caller may see: None for every order (`orders:admin`, or auth off),
    else the caller's own (`orders:read`)."""
    return None if caller.has(SCOPE_ADMIN) else caller.subject


Owner = Annotated[str | None, Depends(reader)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[
    str | None, Query(max_length=200, description="From the previous page's `Link` header.")
]
StatusFilter = Annotated[
    Literal["placed", "confirmed", "shipped", "cancelled"] | None,
    Query(description="Only the orders in this status now."),
]


@router.get(
    "/orders",
    response_model=list[OrderStateResponse],
    responses={
        200: {
            "description": "Newest first. The next page, if any, is in the `Link` header.",
            "headers": {
                "Link": {
                    "description": 'RFC 8288: `</orders?limit=50&cursor=…>; rel="next"`',
                    "schema": {"type": "string"},
                }
            },
        },
        **auth_problem_responses(),
        **problem_responses(422, 503, retry_after=(503,)),
    },
)
async def list_orders(
    owner: Owner,
    api: Api,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    status: StatusFilter = None,
) -> JSONResponse:
    """Newest first: with `orders:read` the caller's own orders, with `orders:admin` all;
    with `status`, only those in it now."""
    after = decode_cursor(cursor) if cursor is not None else None
    page = await api.list_orders(limit, after, owner, status)
    headers = {}
    if page.next_after is not None:
        next_url = f"/orders?limit={limit}&cursor={encode_cursor(page.next_after)}"
        if status is not None:
            next_url += f"&status={status}"
        headers["Link"] = f'<{next_url}>; rel="next"'
    return JSONResponse([order_state_json(view) for view in page.orders], headers=headers)


@router.get(
    "/orders/{order_id}",
    response_model=OrderStateResponse,
    responses={
        **auth_problem_responses(),
        **problem_responses(
            404,
            422,
            503,
            retry_after=(503,),
            s404="Unknown, not projected yet, or placed by another customer.",
        ),
    },
)
async def get_order(order_id: UUID, owner: Owner, api: Api) -> JSONResponse:
    view = await api.get_order(order_id, owner)
    if view is None:
        return Problem(404, f"Order {order_id} is unknown or not projected yet.").response()
    return JSONResponse(order_state_json(view), headers={"ETag": f'"{view.version}"'})


# What to tell the caller; status, problem type and Retry-After come with each category.
DETAILS: DetailTable = {
    InvalidCursor: lambda error: Detail(errors=[FieldError(field="cursor", message=str(error))]),
    ReadModelUnavailable: "The read model is unavailable; retry later.",
}


def create_app(start: Callable[[], Awaitable[Started[ReadServiceApi]]]) -> FastAPI:
    app = service_app(
        title="Order Read Service",
        summary="Query side of the order platform: orders as projected from OrderCreated.",
        start=start,
    )
    install_details(app, DETAILS)
    install_auth_problems(app)
    app.include_router(router)
    app.include_router(internal_router)
    return app
