"""FastAPI application of the Order Service: `POST /orders`, health, metrics, docs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from order_platform.building_blocks.body_limit import BodySizeLimit
from order_platform.building_blocks.problem import (
    FieldError,
    problem_response,
    problem_responses,
    validation_problem,
)
from order_platform.building_blocks.service_app import Started, service_app
from order_platform.order_service.application.create_order import (
    CreateOrder,
    CreateOrderHandler,
    IdempotencyKeyReused,
    RequestInFlight,
)
from order_platform.order_service.application.ports import (
    StorageUnavailable,
    WriteOutcomeUnknown,
)
from order_platform.order_service.domain import InvalidOrderField
from order_platform.order_service.entrypoints.schemas import (
    CreateOrderRequest,
    NotJson,
    OrderResponse,
    parse_json,
)

log = structlog.get_logger(__name__)

MAX_BODY_BYTES = 64 * 1024
_API_FIELD = {"customer_name": "customerName", "total_amount": "totalAmount"}


@dataclass(frozen=True, slots=True)
class OrderServiceApi:
    """What the HTTP layer needs from the composition root."""

    create_order: CreateOrderHandler
    location_base_url: str  # without a trailing slash; empty for relative `Location`s


def create_app(start: Callable[[], Awaitable[Started[OrderServiceApi]]]) -> FastAPI:
    app = service_app(
        title="Order Service",
        summary="Command side of the order platform: accepts orders, publishes OrderCreated.",
        start=start,
    )
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY_BYTES)

    @app.post(
        "/orders",
        status_code=201,
        response_model=OrderResponse,
        tags=["orders"],
        responses={
            201: {
                "description": "Created (or replayed for a repeated Idempotency-Key).",
                "headers": {"Location": {"schema": {"type": "string"}}},
            },
            **problem_responses(
                409,
                413,
                415,
                422,
                500,
                503,
                s409="A request with this Idempotency-Key is in flight.",
            ),
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": CreateOrderRequest.model_json_schema(by_alias=True)
                    }
                },
            }
        },
    )
    async def create_order(
        request: Request,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=255,
                pattern=r"^[\x21-\x7e]+$",
                description="Retry safely: same key and body replay the first answer.",
            ),
        ] = None,
    ) -> Response:
        api: OrderServiceApi = request.app.state.api
        if not _is_json(request.headers.get("content-type", "")):
            return problem_response(415, "Send the order as application/json.")
        try:
            body = CreateOrderRequest.model_validate(parse_json(await request.body()))
        except NotJson as error:
            return validation_problem([], f"The body is not valid JSON: {error}")
        except ValidationError as error:
            return validation_problem(
                [
                    FieldError(
                        field=".".join(str(part) for part in item["loc"]) or "body",
                        message=item["msg"],
                    )
                    for item in error.errors(include_url=False)
                ]
            )
        command = CreateOrder(body.customer_name, body.total_amount, idempotency_key)
        try:
            created = await api.create_order(command)
        except InvalidOrderField as error:
            field = _API_FIELD.get(error.field, error.field)
            return validation_problem([FieldError(field=field, message=error.message)])
        except IdempotencyKeyReused:
            return problem_response(
                422,
                "This Idempotency-Key was first used with a different request body.",
                type_="urn:order-platform:problem:idempotency-key-reused",
            )
        except RequestInFlight:
            return problem_response(
                409,
                "A request with this Idempotency-Key is still being processed; retry shortly.",
                type_="urn:order-platform:problem:request-in-flight",
                headers={"Retry-After": "1"},
            )
        except WriteOutcomeUnknown:
            return problem_response(
                503,
                "The order store answered too late: the order may or may not have been stored. "
                "Retry with the same Idempotency-Key to find out; without one, check before "
                "retrying.",
                type_="urn:order-platform:problem:outcome-unknown",
                headers={"Retry-After": "2"},
            )
        except StorageUnavailable:
            return problem_response(
                503,
                "The order store is unavailable; nothing was stored. Retry later.",
                headers={"Retry-After": "2"},
            )
        order = created.order
        log.info("order_accepted", order_id=str(order.id), replayed=created.replayed)
        headers = {"Location": f"{api.location_base_url}/orders/{order.id}"}
        if created.replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(OrderResponse.of(order), status_code=201, headers=headers)

    return app


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )
