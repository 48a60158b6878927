"""What the Order Service's routes take (bodies, the Idempotency-Key header, the commands
they make) and the headers of their answers; the answers' body, an order, is the platform's
(`order_platform.contracts.order_json`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import Header
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, WithJsonSchema

from order_platform.building_blocks.http.decimal_json import NumberOutOfRange, parse_decimal
from order_platform.building_blocks.http.problem import ProblemDetails
from order_platform.contracts.money import AMOUNT_STRING_PATTERN, DECIMAL_PLACES, MAX_AMOUNT
from order_platform.contracts.user_text import MAX_CUSTOMER_NAME_LENGTH, TRIMMED_TEXT_PATTERN
from order_platform.order_service.application.change_order import ChangeOrder, VersionCondition
from order_platform.order_service.application.create_order import CreateOrder
from order_platform.order_service.application.order_access import Requester
from order_platform.order_service.domain import Command
from order_platform.order_service.domain.order import (
    MAX_REASON_LENGTH,
    MAX_TRACKING_NUMBER_LENGTH,
)


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

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description=(
            'Change the order only at this version: `"3"` (its `ETag`), a list of them, or `*` '
            'for any existing order. Compared strongly (RFC 9110): `W/"3"` never matches.'
        ),
    ),
]


class CreateOrderRequest(BaseModel):
    """Any other field is a 422, as on the commands: a client that sends `customerId` (the
    token says who the customer is) or a field we do not have (`currency`) learns it, rather
    than having its order stored without it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"customerName": "Lucas", "totalAmount": 199.90}]},
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


class CommandRequest(BaseModel):
    """A command's body: none, `{}`, or its one optional field; any other field is a 422."""

    model_config = ConfigDict(extra="forbid")


class ConfirmOrderRequest(CommandRequest):
    def to_command(
        self,
        order_id: UUID,
        requester: Requester,
        if_match: VersionCondition | None,
        idempotency_key: str | None,
    ) -> ChangeOrder:
        return ChangeOrder(
            order_id,
            Command.CONFIRM,
            requester,
            if_match=if_match,
            idempotency_key=idempotency_key,
        )


def _optional_text(alias: str, description: str, max_length: int) -> Any:
    return Field(
        default=None,
        alias=alias,
        description=(
            f"{description} Absent or null: none. Else 1 to {max_length} characters after "
            "trimming white space, no control characters (the rules of `customerName`)."
        ),
        json_schema_extra={"maxLength": max_length, "pattern": TRIMMED_TEXT_PATTERN},
    )


class ShipOrderRequest(CommandRequest):
    model_config = ConfigDict(json_schema_extra={"examples": [{"trackingNumber": "1Z999AA1"}]})

    tracking_number: StrictStr | None = _optional_text(
        "trackingNumber", "The carrier's tracking number.", MAX_TRACKING_NUMBER_LENGTH
    )

    def to_command(
        self,
        order_id: UUID,
        requester: Requester,
        if_match: VersionCondition | None,
        idempotency_key: str | None,
    ) -> ChangeOrder:
        return ChangeOrder(
            order_id,
            Command.SHIP,
            requester,
            tracking_number=self.tracking_number,
            if_match=if_match,
            idempotency_key=idempotency_key,
        )


class CancelOrderRequest(CommandRequest):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Ordered twice"}]})

    reason: StrictStr | None = _optional_text(
        "reason", "Why the order is cancelled.", MAX_REASON_LENGTH
    )

    def to_command(
        self,
        order_id: UUID,
        requester: Requester,
        if_match: VersionCondition | None,
        idempotency_key: str | None,
    ) -> ChangeOrder:
        return ChangeOrder(
            order_id,
            Command.CANCEL,
            requester,
            reason=self.reason,
            if_match=if_match,
            idempotency_key=idempotency_key,
        )


def api_field(name: str) -> str:
    """The body's name of a domain field (`customer_name` is `customerName`)."""
    for model in (CreateOrderRequest, ShipOrderRequest, CancelOrderRequest):
        field = model.model_fields.get(name)
        if field is not None:
            return field.alias or name
    return name


ETAG_HEADER: dict[str, Any] = {
    "ETag": {
        "description": 'The order\'s version as a strong entity tag, e.g. `"3"`.',
        "schema": {"type": "string"},
    }
}

CREATED: dict[str, Any] = {
    "description": "Created (or replayed for a repeated Idempotency-Key).",
    "headers": {
        "Location": {"schema": {"type": "string"}},
        **ETAG_HEADER,
        "Idempotent-Replayed": {
            "description": "`true` when this answer replays an earlier request's.",
            "schema": {"type": "string", "enum": ["true"]},
        },
    },
}


CHANGED: dict[str, Any] = {
    "description": "The order after the change (or as it is now, for a repeated "
    "Idempotency-Key whose change was made).",
    "headers": {**ETAG_HEADER, "Idempotent-Replayed": CREATED["headers"]["Idempotent-Replayed"]},
}


class OrderStateProblem(ProblemDetails):
    """A command refused because of the order's state: what that state is."""

    orderStatus: str | None = Field(
        default=None, description="`transition-not-allowed`: the order's status."
    )
    allowedCommands: list[str] | None = Field(
        default=None,
        description="`transition-not-allowed`: the commands the status allows (none when final).",
    )
    currentVersion: int | None = Field(
        default=None,
        description="`version-mismatch` and `order-changed-meanwhile`: the order's version now.",
    )
