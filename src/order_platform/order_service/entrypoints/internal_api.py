"""`GET /internal/orders/export`: every stored order, for the operators' rebuild of the read model.

Internal (not in the OpenAPI document): for operators, not for clients; with auth on it needs
`orders:admin`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Protocol
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, StreamingResponse

from order_platform.building_blocks.auth.bearer_auth import SCOPE_ADMIN, Caller, require_scope
from order_platform.building_blocks.http.current_api import current_api
from order_platform.building_blocks.http.problem import Problem
from order_platform.contracts.order_export import (
    ESTIMATED_TOTAL_HEADER,
    EXPORT_PATH,
    MEDIA_TYPE,
    end_line,
    order_line,
)
from order_platform.order_service.application.ports import StoredOrders


class ExportingApi(Protocol):
    """What the export needs of the service's API object (`api.OrderServiceApi`)."""

    @property
    def stored_orders(self) -> StoredOrders | None: ...  # None: no export offered


internal_router = APIRouter(tags=["internal"], include_in_schema=False)
EXPORT_BATCH = 1000


@internal_router.get(EXPORT_PATH, response_model=None)
async def export_orders(
    _: Annotated[Caller, Depends(require_scope(SCOPE_ADMIN))],
    api: Annotated[ExportingApi, Depends(current_api)],
    after: Annotated[UUID | None, Query(description="Only ids that sort above this.")] = None,
) -> StreamingResponse | JSONResponse:
    """Every stored order, in the format of `contracts.order_export`."""
    if api.stored_orders is None:
        return Problem(404, "This service offers no export of its orders.").response()
    estimate = await api.stored_orders.estimated_count()
    batches = aiter(api.stored_orders.export(after=after, batch_size=EXPORT_BATCH))
    # The first batch before the answer starts: a store that is away is a 503, not a cut stream.
    first = await anext(batches, None)

    async def lines() -> AsyncIterator[bytes]:
        count = 0
        batch = first
        while batch is not None:
            count += len(batch)
            yield "".join(order_line(stored.order, stored.event_id) for stored in batch).encode()
            batch = await anext(batches, None)
        yield end_line(count).encode()

    return StreamingResponse(
        lines(), media_type=MEDIA_TYPE, headers={ESTIMATED_TOTAL_HEADER: str(estimate)}
    )
