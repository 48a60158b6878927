"""`OrderCreated` v1: the event the Order Service publishes and every consumer reads.

The wire format is fixed by docs/design.md ("Events"): camelCase JSON, money as a decimal string,
timestamps as RFC 3339 UTC. Consumers ignore unknown fields and reject anything else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Final, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
    alias_generators,
)

from order_platform.contracts.money import (
    CENTS_STRING_PATTERN,
    MAX_AMOUNT,
    InvalidAmount,
    in_cents,
)
from order_platform.contracts.user_text import (
    MAX_CUSTOMER_ID_LENGTH,
    MAX_CUSTOMER_NAME_LENGTH,
    TEXT_PATTERN,
    code_point,
    first_control_character,
)

EVENT_TYPE: Final = "OrderCreated"
EVENT_VERSION: Final = 1
SCHEMA_PATH = Path(__file__).with_name("order_created.v1.schema.json")


class InvalidEvent(ValueError):
    """A message that is not a valid `OrderCreated` v1; it belongs on the dead-letter topic."""


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a UTC offset")
    return value.astimezone(UTC)


def rfc3339(value: datetime) -> str:
    """UTC, millisecond precision, `Z` suffix: the one timestamp format on the wire."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _money(value: object) -> Decimal:
    # A string on the wire (never a JSON number), so that nobody goes through float.
    if not isinstance(value, str | Decimal):
        raise ValueError("totalAmount must be a decimal string such as '199.90'")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError("totalAmount is not a decimal number") from None
    try:
        return in_cents(amount)
    except InvalidAmount as why:
        raise ValueError(f"totalAmount {why}") from None


# The Order Service's rules (`user_text`): an event that breaks them was not published by it
# and is dead-lettered.
def _customer_name(name: str) -> str:
    if not 1 <= len(name) <= MAX_CUSTOMER_NAME_LENGTH or name != name.strip():
        raise ValueError(
            f"customerName must be 1 to {MAX_CUSTOMER_NAME_LENGTH} characters, trimmed"
        )
    if (control := first_control_character(name)) is not None:
        raise ValueError(f"customerName contains a control character ({code_point(control)})")
    return name


def text_schema(max_length: int, description: str) -> WithJsonSchema:
    """The JSON Schema of user text as events write it (`contracts.asyncapi`): what the
    validators here check, as far as JSON Schema can say it (never stricter)."""
    return WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": max_length,
            "pattern": TEXT_PATTERN,
            "description": description,
        }
    )


# Each type says what it looks like on the wire (`WithJsonSchema`), for the published schemas.
UtcTimestamp = Annotated[
    datetime,
    AfterValidator(_utc),
    PlainSerializer(rfc3339, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": "Z$",
            "description": "RFC 3339, UTC (`Z`), milliseconds.",
        }
    ),
]
MoneyString = Annotated[
    Decimal,
    BeforeValidator(_money),
    PlainSerializer(lambda amount: f"{amount:.2f}", return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": CENTS_STRING_PATTERN,
            "description": "A decimal string with two decimal places, greater than 0 and at "
            f"most {MAX_AMOUNT:.2f} (never a JSON number).",
        }
    ),
]
CustomerName = Annotated[
    str,
    AfterValidator(_customer_name),
    text_schema(MAX_CUSTOMER_NAME_LENGTH, "Trimmed; no control characters."),
]


def _customer_id(value: str) -> str:
    if not 1 <= len(value) <= MAX_CUSTOMER_ID_LENGTH:
        raise ValueError(f"customerId must be 1 to {MAX_CUSTOMER_ID_LENGTH} characters")
    if (control := first_control_character(value)) is not None:
        raise ValueError(f"customerId contains a control character ({code_point(control)})")
    return value


CustomerId = Annotated[
    str,
    AfterValidator(_customer_id),
    text_schema(
        MAX_CUSTOMER_ID_LENGTH,
        "Who placed the order (the token's `sub`); absent when authentication was off.",
    ),
]


# Every order event: camelCase on the wire, unknown fields ignored, immutable once read.
EVENT_MODEL_CONFIG = ConfigDict(
    frozen=True,
    extra="ignore",
    strict=False,
    alias_generator=alias_generators.to_camel,
    validate_by_name=True,
    validate_by_alias=True,
)


class OrderCreatedV1(BaseModel):
    """An order was accepted by the Order Service."""

    model_config = EVENT_MODEL_CONFIG

    event_id: UUID
    event_type: Literal["OrderCreated"] = EVENT_TYPE
    event_version: Literal[1] = EVENT_VERSION
    occurred_at: UtcTimestamp
    order_id: UUID
    customer_name: CustomerName
    total_amount: MoneyString
    created_at: UtcTimestamp
    # Added to version 1, optional: who placed the order (the token's `sub`). Absent from
    # events of orders placed with authentication off, and from every older event.
    customer_id: CustomerId | None = None
    # Added to version 1: the order's version after this event, always 1 for its creation;
    # absent from events published before the order had a life (read as 1, see
    # `order_events.upcast`).
    order_version: Literal[1] = 1

    @classmethod
    def from_json(cls, value: bytes | str) -> Self:
        """Parse and validate a message value; any failure is an `InvalidEvent`."""
        try:
            return cls.model_validate_json(value, by_alias=True)
        except ValidationError as error:
            raise InvalidEvent(describe(error)) from error

    def to_json(self) -> bytes:
        # `customerId` is left out when absent, so the message is what version 1 always was.
        return self.model_dump_json(by_alias=True, exclude_none=True).encode()


def describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'value'}: {item['msg']}"
        for item in error.errors(include_url=False)
    )


def event_headers(
    *,
    traceparent: str | None = None,
    correlation_id: str | None = None,
    event_type: str = EVENT_TYPE,
) -> list[tuple[str, bytes]]:
    """Kafka headers that travel with every order event's message (all are version 1)."""
    headers = [
        ("event-type", event_type.encode()),
        ("event-version", str(EVENT_VERSION).encode()),
        ("content-type", b"application/json"),
    ]
    if traceparent:
        headers.append(("traceparent", traceparent.encode()))
    if correlation_id:
        headers.append(("correlation-id", correlation_id.encode()))
    return headers


def dead_letter_topic(topic: str, consumer_group: str) -> str:
    return f"{topic}.{consumer_group}.dlq"


def redrive_topic(topic: str, consumer_group: str) -> str:
    """Where `order-platform dlq replay` sends a group's dead letters back: that group's
    consumer reads it besides `topic`, no other group does."""
    return f"{topic}.{consumer_group}.redrive"
