"""The published language: integration events every service may import."""

from order_platform.contracts.order_created import (
    EVENT_TYPE,
    EVENT_VERSION,
    SCHEMA_PATH,
    InvalidEvent,
    OrderCreatedV1,
    dead_letter_topic,
    event_headers,
    rfc3339,
)

__all__ = [
    "EVENT_TYPE",
    "EVENT_VERSION",
    "SCHEMA_PATH",
    "InvalidEvent",
    "OrderCreatedV1",
    "dead_letter_topic",
    "event_headers",
    "rfc3339",
]
