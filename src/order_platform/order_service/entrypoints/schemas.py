"""What `POST /orders` takes (the body, the Idempotency-Key header, the command they make)
and the headers of its answer; the answer's body, an order, is the platform's
(`order_platform.contracts.order_json`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import Header
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, WithJsonSchema

from order_platform.building_blocks.http.decimal_json import NumberOutOfRange, parse_decimal
from order_platform.contracts.money import AMOUNT_STRING_PATTERN, DECIMAL_PLACES, MAX_AMOUNT
from order_platform.contracts.user_text import MAX_CUSTOMER_NAME_LENGTH, TRIMMED_TEXT_PATTERN
from order_platform.order_service.application.create_order import CreateOrder


def _amount(value: object) -> Decimal:
    if isinstance(value, bool):  # bool is an int in Python, but `true` is no amount
        raise ValueError("must be a number or a numeric string")
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        # The same guard as the body's JSON numbers: "1e999999999999999999" is out of range.
        try:
            return parse_decimal(value.strip())
        except NumberOutOfRange:
            raise ValueError("is out of range") from None
        except ValueError:
            raise ValueError("must be a number or a numeric string") from None
    raise ValueError("must be a number or a numeric string")


Amount = Annotated[
    Decimal,
    BeforeValidator(_amount),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": int(MAX_AMOUNT)},
                {"type": "string", "pattern": AMOUNT_STRING_PATTERN},
            ],
            "description": (
                f"Greater than 0, at most {DECIMAL_PLACES} decimal places, at most {MAX_AMOUNT:,}."
            ),
            "examples": [199.90, "199.90"],
        }
    ),
]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Retry safely: same key and body replay the first answer.",
    ),
]


class CreateOrderRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"customerName": "Lucas", "totalAmount": 199.90}]}
    )

    customer_name: StrictStr = Field(
        alias="customerName",
        description=(
            f"1 to {MAX_CUSTOMER_NAME_LENGTH} characters after trimming white space; no control "
            "characters (C0, DEL, C1), no line or paragraph separator (U+2028, U+2029) and no "
            "lone surrogate."
        ),
        json_schema_extra={"minLength": 1, "pattern": TRIMMED_TEXT_PATTERN},
    )
    total_amount: Amount = Field(alias="totalAmount")

    def to_command(self, idempotency_key: str | None, customer_id: str | None) -> CreateOrder:
        return CreateOrder(self.customer_name, self.total_amount, idempotency_key, customer_id)

    @classmethod
    def api_field(cls, name: str) -> str:
        """The body's name of a domain field (`customer_name` is `customerName`)."""
        field = cls.model_fields.get(name)
        return field.alias if field is not None and field.alias else name


CREATED: dict[str, Any] = {
    "description": "Created (or replayed for a repeated Idempotency-Key).",
    "headers": {
        "Location": {"schema": {"type": "string"}},
        "Idempotent-Replayed": {
            "description": "`true` when this answer replays an earlier request's.",
            "schema": {"type": "string", "enum": ["true"]},
        },
    },
}
