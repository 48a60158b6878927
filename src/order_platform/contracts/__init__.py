"""The published language every service may import: the `OrderCreated` event and the
order's JSON shape in the HTTP APIs; in submodules, the other formats that cross a process
boundary and the rules about user text and money (`user_text`, `money`)."""

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
from order_platform.contracts.order_json import (
    AnOrder,
    AnOrderInItsLife,
    OrderResponse,
    OrderStateResponse,
    order_json,
    order_state_json,
)

__all__ = [
    "EVENT_TYPE",
    "EVENT_VERSION",
    "SCHEMA_PATH",
    "AnOrder",
    "AnOrderInItsLife",
    "InvalidEvent",
    "OrderCreatedV1",
    "OrderResponse",
    "OrderStateResponse",
    "dead_letter_topic",
    "event_headers",
    "order_json",
    "order_state_json",
    "redrive_topic",
    "rfc3339",
]
