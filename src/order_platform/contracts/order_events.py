"""The order's lifecycle events, version 1, beside `OrderCreated` (docs/design.md, "Order
lifecycle"): `OrderConfirmed`, `OrderShipped`, `OrderCancelled`.

Every event carries the order's version after it (`orderVersion`: 1 for `OrderCreated`, one
more per transition), so that a consumer applies an order's events in order, each once.
`read_order_event` reads any of the four from a message value, by its `eventType`; an
`OrderCreated` published before `orderVersion` existed is read as version 1 (`upcast`).
Consumers ignore unknown fields and reject anything else (`InvalidEvent`).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    TypeAdapter,
    ValidationError,
)

from order_platform.contracts.order_created import (
    EVENT_MODEL_CONFIG,
    CustomerId,
    InvalidEvent,
    OrderCreatedV1,
    UtcTimestamp,
    describe,
    text_schema,
)
from order_platform.contracts.user_text import code_point, first_control_character

MAX_REASON_LENGTH: Final = 500  # code points, as the Order Service's domain allows
MAX_TRACKING_NUMBER_LENGTH: Final = 100


def _text(name: str, max_length: int) -> Any:
    def check(value: str) -> str:
        if not 1 <= len(value) <= max_length or value != value.strip():
            raise ValueError(f"{name} must be 1 to {max_length} characters, trimmed")
        if (control := first_control_character(value)) is not None:
            raise ValueError(f"{name} contains a control character ({code_point(control)})")
        return value

    return AfterValidator(check)


Reason = Annotated[
    str,
    _text("reason", MAX_REASON_LENGTH),
    text_schema(MAX_REASON_LENGTH, "Why, as the canceller wrote it; trimmed."),
]
TrackingNumber = Annotated[
    str,
    _text("trackingNumber", MAX_TRACKING_NUMBER_LENGTH),
    text_schema(MAX_TRACKING_NUMBER_LENGTH, "The carrier's tracking number; trimmed."),
]


class _TransitionV1(BaseModel):
    """What every transition's event carries."""

    model_config = EVENT_MODEL_CONFIG

    event_id: UUID
    event_version: Literal[1] = 1
    occurred_at: UtcTimestamp
    order_id: UUID
    order_version: Annotated[int, Field(ge=2)]  # a transition comes after the creation's 1
    customer_id: CustomerId | None = None

    def to_json(self) -> bytes:
        # Absent optional fields stay absent (never null, never "").
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


class OrderConfirmedV1(_TransitionV1):
    """An order was confirmed (by an operator with `orders:admin`)."""

    event_type: Literal["OrderConfirmed"] = "OrderConfirmed"


class OrderShippedV1(_TransitionV1):
    """A confirmed order was shipped, with its tracking number where one was given."""

    event_type: Literal["OrderShipped"] = "OrderShipped"
    tracking_number: TrackingNumber | None = None


class OrderCancelledV1(_TransitionV1):
    """A placed or confirmed order was cancelled, with the reason where one was given."""

    event_type: Literal["OrderCancelled"] = "OrderCancelled"
    reason: Reason | None = None


OrderEventV1 = OrderCreatedV1 | OrderConfirmedV1 | OrderShippedV1 | OrderCancelledV1
EVENT_TYPES: Final[tuple[str, ...]] = (
    "OrderCreated",
    "OrderConfirmed",
    "OrderShipped",
    "OrderCancelled",
)

_ANY_EVENT: TypeAdapter[OrderEventV1] = TypeAdapter(
    Annotated[OrderEventV1, Field(discriminator="event_type")]
)


def upcast(message: dict[str, Any]) -> dict[str, Any]:
    """The one upcaster: an `OrderCreated` without `orderVersion` (published before it
    existed) is version 1 of its order."""
    if message.get("eventType") == "OrderCreated" and "orderVersion" not in message:
        return {**message, "orderVersion": 1}
    return message


_JSON_OBJECT: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])


def read_order_event(value: bytes | str) -> OrderEventV1:
    """Any order event from a message value; any failure is an `InvalidEvent`."""
    try:
        message = _JSON_OBJECT.validate_json(value)
        return _ANY_EVENT.validate_python(upcast(message), by_alias=True)
    except ValidationError as error:
        raise InvalidEvent(describe(error)) from error
