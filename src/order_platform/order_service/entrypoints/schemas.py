"""Request and response bodies of the Order Service's HTTP API."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, WithJsonSchema

from order_platform.contracts import rfc3339
from order_platform.order_service.domain import Order


class NotJson(ValueError):
    """The body is not a JSON document."""


def parse_json(body: bytes) -> Any:
    """JSON with every number read as `Decimal`, so 199.90 is never a float on its way in."""

    def reject_constant(name: str) -> Any:
        raise NotJson(f"{name} is not a number")

    try:
        return json.loads(body, parse_float=Decimal, parse_constant=reject_constant)
    except (ValueError, RecursionError) as error:
        raise NotJson(str(error)) from error


def _amount(value: object) -> Decimal:
    if isinstance(value, bool):  # bool is an int in Python, but `true` is no amount
        raise ValueError("must be a number or a numeric string")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("must be a number or a numeric string") from None
    raise ValueError("must be a number or a numeric string")


Amount = Annotated[
    Decimal,
    BeforeValidator(_amount),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": 1_000_000_000},
                {"type": "string", "pattern": r"^[0-9]{1,10}(\.[0-9]{1,2})?$"},
            ],
            "description": "Greater than 0, at most 2 decimal places, at most 1,000,000,000.",
            "examples": [199.90, "199.90"],
        }
    ),
]


class CreateOrderRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"customerName": "Lucas", "totalAmount": 199.90}]}
    )

    customer_name: StrictStr = Field(
        alias="customerName",
        description=(
            "1 to 200 characters after trimming white space; no control characters "
            "(C0, DEL, C1) and no line or paragraph separator (U+2028, U+2029)."
        ),
        json_schema_extra={
            "minLength": 1,
            "pattern": r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*[^\s\u0000-\u001f\u007f-\u009f]"
            r"[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$",
        },
    )
    total_amount: Amount = Field(alias="totalAmount")


class OrderResponse(BaseModel):
    id: str = Field(examples=["0b8e6d0c-3f55-4a4e-9c39-7d6a0c2d8f10"])
    customerName: str = Field(examples=["Lucas"])
    totalAmount: str = Field(
        pattern=r"^[0-9]+\.[0-9]{2}$",
        description="Decimal string with two places, never a float.",
        examples=["199.90"],
    )
    createdAt: str = Field(description="RFC 3339, UTC.", examples=["2026-11-25T08:00:00.000Z"])

    @classmethod
    def of(cls, order: Order) -> dict[str, str]:
        # Plain dict: serialised once by the response, not validated again on the hot path.
        return {
            "id": str(order.id),
            "customerName": order.customer_name,
            "totalAmount": f"{order.total_amount:.2f}",
            "createdAt": rfc3339(order.created_at),
        }
