"""FastAPI application of the Order Read Service: `GET /orders`, `GET /orders/{id}`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from order_platform.building_blocks.problem import (
    FieldError,
    problem_response,
    problem_responses,
    validation_problem,
)
from order_platform.building_blocks.service_app import Started, service_app
from order_platform.contracts import rfc3339
from order_platform.read_service.application.ports import ReadModelUnavailable
from order_platform.read_service.application.queries import GetOrder, ListOrders
from order_platform.read_service.domain import OrderView
from order_platform.read_service.entrypoints.cursor import (
    InvalidCursor,
    decode_cursor,
    encode_cursor,
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class OrderResponse(BaseModel):
    id: str = Field(examples=["0b8e6d0c-3f55-4a4e-9c39-7d6a0c2d8f10"])
    customerName: str = Field(examples=["Lucas"])
    totalAmount: str = Field(
        pattern=r"^[0-9]+\.[0-9]{2}$",
        description="Decimal string with two places, never a float.",
        examples=["199.90"],
    )
    createdAt: str = Field(description="RFC 3339, UTC.", examples=["2026-11-25T08:00:00.000Z"])


def order_json(view: OrderView) -> dict[str, str]:
    return {
        "id": str(view.id),
        "customerName": view.customer_name,
        "totalAmount": f"{view.total_amount:.2f}",
        "createdAt": rfc3339(view.created_at),
    }


def _json(body: object, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        media_type="application/json",
        headers=headers,
    )


@dataclass(frozen=True, slots=True)
class ReadServiceApi:
    """What the HTTP layer needs from the composition root."""

    get_order: GetOrder
    list_orders: ListOrders


def create_app(start: Callable[[], Awaitable[Started[ReadServiceApi]]]) -> FastAPI:
    app = service_app(
        title="Order Read Service",
        summary="Query side of the order platform: orders as projected from OrderCreated.",
        start=start,
    )
    unavailable = problem_response(
        503, "The read model is unavailable; retry later.", headers={"Retry-After": "2"}
    )

    @app.get(
        "/orders",
        response_model=list[OrderResponse],
        tags=["orders"],
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
            **problem_responses(422, 503),
        },
    )
    async def list_orders(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[
            str | None,
            Query(max_length=200, description="From the previous page's `Link` header."),
        ] = None,
    ) -> Response:
        api: ReadServiceApi = request.app.state.api
        try:
            after = decode_cursor(cursor) if cursor is not None else None
        except InvalidCursor as error:
            return validation_problem([FieldError(field="cursor", message=str(error))])
        try:
            page = await api.list_orders(limit, after)
        except ReadModelUnavailable:
            return unavailable
        headers = {}
        if page.next_after is not None:
            next_url = f"/orders?limit={limit}&cursor={encode_cursor(page.next_after)}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        return _json([order_json(view) for view in page.orders], headers)

    @app.get(
        "/orders/{order_id}",
        response_model=OrderResponse,
        tags=["orders"],
        responses=problem_responses(404, 422, 503, s404="Unknown, or not projected yet."),
    )
    async def get_order(request: Request, order_id: UUID) -> Response:
        api: ReadServiceApi = request.app.state.api
        try:
            view = await api.get_order(order_id)
        except ReadModelUnavailable:
            return unavailable
        if view is None:
            return problem_response(404, f"Order {order_id} is unknown or not projected yet.")
        return _json(order_json(view))

    return app
