"""`GET /internal/projections`: when orders became readable, for the operator console.

Internal (not in the public OpenAPI document): the console asks for the orders it is
following, a few at a time, and shows the time as the "projected" hop of an order; the
order's `createdAt` and `eventId` let it show the other hops of an order it did not see on
the topic; its `version`, and its changes parked waiting for a missing version, let it show
each event of the order. With auth on it needs `orders:admin`, like every order's data.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Protocol
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from order_platform.building_blocks.auth.bearer_auth import (
    SCOPE_ADMIN,
    Caller,
    require_scope,
)
from order_platform.building_blocks.http.current_api import current_api
from order_platform.contracts.hop_times import (
    MAX_IDS,
    ORDER_ID_PARAMETER,
    PROJECTIONS_PATH,
    ParkedHop,
    ProjectionTime,
    projections_json,
)
from order_platform.read_service.application.queries import ProjectionTimes

internal_router = APIRouter(tags=["internal"], include_in_schema=False)


class ProjectionTimesApi(Protocol):
    """What this route needs of the service's API object (`api.ReadServiceApi`)."""

    @property
    def projection_times(self) -> ProjectionTimes: ...


@internal_router.get(PROJECTIONS_PATH, response_model=None)
async def projections(
    _: Annotated[Caller, Depends(require_scope(SCOPE_ADMIN))],
    api: Annotated[ProjectionTimesApi, Depends(current_api)],
    order_id: Annotated[list[UUID], Query(alias=ORDER_ID_PARAMETER, max_length=MAX_IDS)],
) -> dict[str, Any]:
    """The format of `contracts.hop_times`."""
    asked = list(dict.fromkeys(order_id))
    found, parked = await asyncio.gather(
        api.projection_times(asked), api.projection_times.parked(asked)
    )
    return projections_json(
        {
            order: ProjectionTime(
                projected_at=at,
                created_at=view.created_at,
                event_id=view.event_id,
                version=view.version,
            )
            for order, (view, at) in found.items()
        },
        [
            ParkedHop(p.change.order_id, p.change.event_id, p.change.version, p.waiting_for)
            for p in parked
        ],
    )
