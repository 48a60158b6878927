"""`GET /internal/projections`: when orders became readable, for the operator console.

Internal (not in the public OpenAPI document): the console asks for the orders it is
following, a few at a time, and shows the time as the "projected" hop of an order; the
order's `createdAt` and `eventId` let it show the other hops of an order it did not see on
the topic. With auth on it needs `orders:admin`, like every order's data.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from order_platform.building_blocks.bearer_auth import SCOPE_ADMIN, Caller, authorization_header
from order_platform.building_blocks.current_api import current_api
from order_platform.contracts import rfc3339
from order_platform.read_service.application.queries import ProjectionTimes

MAX_ORDERS = 100

internal_router = APIRouter(tags=["internal"], include_in_schema=False)


async def _projection_times(
    api: Annotated[Any, Depends(current_api)],
    authorization: Annotated[str | None, Depends(authorization_header)],
) -> ProjectionTimes:
    caller: Caller = await api.auth.authenticate(authorization)
    caller.require(SCOPE_ADMIN)
    times: ProjectionTimes = api.projection_times
    return times


@internal_router.get("/internal/projections")
async def projections(
    times: Annotated[ProjectionTimes, Depends(_projection_times)],
    order_id: Annotated[list[UUID], Query(alias="orderId", max_length=MAX_ORDERS)],
) -> dict[str, dict[str, dict[str, str | None]]]:
    """`{"projections": {orderId: {"projectedAt", "createdAt", "eventId"}}}`; an order not
    projected (yet) is absent; `projectedAt` is null for one stored before it was recorded."""
    found = await times(list(dict.fromkeys(order_id)))
    return {
        "projections": {
            str(order): {
                "projectedAt": rfc3339(at) if at is not None else None,
                "createdAt": rfc3339(view.created_at),
                "eventId": str(view.event_id),
            }
            for order, (view, at) in found.items()
        }
    }
