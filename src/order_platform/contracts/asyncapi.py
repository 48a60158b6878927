"""The published language as an AsyncAPI 3.0 document, generated from the event models here:
every order event on the orders topic, with its Kafka key, headers and JSON Schema.

`docs/asyncapi.json` is this document as committed (`make asyncapi` writes it; a unit test
fails when it differs); the Order Service serves it at `/asyncapi.json`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from order_platform.contracts.order_created import EVENT_VERSION, OrderCreatedV1
from order_platform.contracts.order_events import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderShippedV1,
)

ASYNCAPI_VERSION: Final = "3.0.0"
CHANNEL: Final = "orders"
TOPIC_PARAMETER: Final = "ordersTopic"
DEFAULT_TOPIC: Final = "orders"
TOPIC_SETTING: Final = "ORDER_EVENTS_TOPIC"
RECEIVE_OPERATION: Final = "receiveOrderEvents"
KAFKA_BINDING_VERSION: Final = "0.5.0"
CONTENT_TYPE: Final = "application/json"
# The W3C trace context's `traceparent` (version 00; later versions may append fields).
TRACEPARENT_PATTERN: Final = "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}"

# Every event on the topic, in the order of an order's life; the message's name is its
# `eventType` and its `event-type` header.
EVENTS: Final[tuple[tuple[str, str, type[BaseModel]], ...]] = (
    ("OrderCreated", "Order created", OrderCreatedV1),
    ("OrderConfirmed", "Order confirmed", OrderConfirmedV1),
    ("OrderShipped", "Order shipped", OrderShippedV1),
    ("OrderCancelled", "Order cancelled", OrderCancelledV1),
)
# Every version of every event has carried them; the reader dispatches on `eventType`.
ALWAYS_PRESENT: Final = ("eventType", "eventVersion")

CHANNEL_DESCRIPTION: Final = (
    "Every event of every order, on one topic. The message key is the order id, so one "
    "order's events are in one partition, in the order they happened; `orderVersion` is the "
    "order's version after the event (1 for its creation, one more per transition): apply an "
    "order's events in that order, each once. Delivery is at least once: deduplicate on "
    "`eventId`. Ignore fields you do not know (forward compatible). The topic's name is the "
    f"setting `{TOPIC_SETTING}` (default `{DEFAULT_TOPIC}`). A consumer group's dead letters "
    "go to `<topic>.<consumer-group>.dlq`, with the error and the original topic, partition "
    "and offset in `dlq-` headers."
)


class WireJsonSchema(GenerateJsonSchema):
    """JSON Schema of a message as it is written: an optional field that is not set is left
    out (never `null`), and fields carry no generated titles."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if schema.get("default") is None:  # unset optional field: absent from the message
            return self.generate_inner(schema["schema"])
        return super().default_schema(schema)

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def payload_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema of an event's message value, camelCase as on the wire."""
    schema = model.model_json_schema(by_alias=True, schema_generator=WireJsonSchema)
    properties = schema["properties"]
    required = [*schema.get("required", []), *ALWAYS_PRESENT]
    schema["required"] = [name for name in properties if name in required]  # in field order
    schema["additionalProperties"] = True  # consumers ignore unknown fields
    return schema


def headers_schema(event_type: str) -> dict[str, Any]:
    """The Kafka headers of an event's message (`order_created.event_headers`); values are
    UTF-8 text."""
    return {
        "type": "object",
        "required": ["event-type", "event-version", "content-type"],
        "properties": {
            "event-type": {"const": event_type, "description": "The payload's `eventType`."},
            "event-version": {
                "const": str(EVENT_VERSION),
                "description": "The payload's `eventVersion`, as text.",
            },
            "content-type": {"const": CONTENT_TYPE},
            "traceparent": {
                "type": "string",
                "pattern": TRACEPARENT_PATTERN,
                "description": "W3C trace context of the request that caused the event, where "
                "tracing is on.",
            },
            "correlation-id": {
                "type": "string",
                "minLength": 1,
                "description": "The correlation id of the HTTP request that caused the "
                "event, where present.",
            },
        },
        "additionalProperties": True,
    }


def _message(event_type: str, title: str, model: type[BaseModel]) -> dict[str, Any]:
    return {
        "name": event_type,
        "title": title,
        "summary": (model.__doc__ or "").strip(),
        "contentType": CONTENT_TYPE,
        "headers": headers_schema(event_type),
        "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
        "correlationId": {"location": "$message.header#/correlation-id"},
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "format": "uuid",
                    "description": "The order id (the payload's `orderId`), as UTF-8 text.",
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every order event (server independent)."""
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Order platform events",
            "version": f"{EVENT_VERSION}.0.0",
            "description": "The integration events the Order Service publishes (the published "
            "language of the order platform), version 1 of each. Generated from "
            "`order_platform.contracts`.",
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": {
            CHANNEL: {
                "address": f"{{{TOPIC_PARAMETER}}}",
                "title": "Order events",
                "description": CHANNEL_DESCRIPTION,
                "parameters": {
                    TOPIC_PARAMETER: {
                        "default": DEFAULT_TOPIC,
                        "description": f"The topic's name: the setting `{TOPIC_SETTING}`.",
                    }
                },
                "messages": {
                    name: {"$ref": f"#/components/messages/{name}"} for name, _, _ in EVENTS
                },
            }
        },
        "operations": {
            RECEIVE_OPERATION: {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{CHANNEL}"},
                "summary": "Consume every order event, keyed by order id.",
                "messages": [
                    {"$ref": f"#/channels/{CHANNEL}/messages/{name}"} for name, _, _ in EVENTS
                ],
            }
        },
        "components": {
            "messages": {name: _message(name, title, model) for name, title, model in EVENTS},
            "schemas": {model.__name__: payload_schema(model) for _, _, model in EVENTS},
        },
    }


def asyncapi_json() -> str:
    """The document as committed: sorted keys, two-space indents, a final newline."""
    return json.dumps(asyncapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> None:
    """`python -m order_platform.contracts.asyncapi PATH` (`make asyncapi`) writes it."""
    Path(argv[0]).write_text(asyncapi_json(), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
