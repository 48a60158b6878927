"""The published language every service may import: the `OrderCreated` event and the
order's JSON shape in the HTTP APIs."""

from order_platform.contracts.order_created import (
    EVENT_TYPE,
    EVENT_VERSION,
    SCHEMA_PATH,
    InvalidEvent,
    OrderCreatedV1,
    dead_letter_topic,
    event_headers,
    redrive_topic,
    rfc3339,
)
from order_platform.contracts.order_json import AnOrder, OrderResponse, order_json

__all__ = [
    "EVENT_TYPE",
    "EVENT_VERSION",
    "SCHEMA_PATH",
    "AnOrder",
    "InvalidEvent",
    "OrderCreatedV1",
    "OrderResponse",
    "dead_letter_topic",
    "event_headers",
    "order_json",
    "redrive_topic",
    "rfc3339",
]
