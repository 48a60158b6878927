"""The events' AsyncAPI 3.0 document (issue 25, item 7): the committed docs/asyncapi.json is what
the code generates, it is a valid AsyncAPI 3.0 document, and every message the Order Service
writes (value and headers) is valid under it, while messages it never writes are not.

The document is checked against the AsyncAPI Initiative's own JSON Schema of version 3.0.0
(`asyncapi-3.0.0.schema.json` beside this file: `schemas/3.0.0-without-$id.json` of
github.com/asyncapi/spec-json-schemas at 7dd3990, the npm package @asyncapi/specs 6.11.1,
Apache-2.0): no well-kept AsyncAPI 3 validator exists on PyPI, and that schema is what the
AsyncAPI parser validates with.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import jsonschema
import pytest

from order_platform.contracts import SCHEMA_PATH, event_headers
from order_platform.contracts.asyncapi import asyncapi_document, asyncapi_json
from order_platform.contracts.order_created import OrderCreatedV1
from order_platform.contracts.order_events import (
    EVENT_TYPES,
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderEventV1,
    OrderShippedV1,
)

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "docs" / "asyncapi.json"
ASYNCAPI_3_SCHEMA = json.loads(
    Path(__file__).with_name("asyncapi-3.0.0.schema.json").read_text(encoding="utf-8")
)
DOCUMENT = asyncapi_document()
AT = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def resolve(document: dict[str, Any], ref: str) -> Any:
    """A local reference (`#/a/b`) of the document, followed through references."""
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return resolve(document, node["$ref"]) if "$ref" in node else node


def message(event_type: str) -> dict[str, Any]:
    return resolve(DOCUMENT, f"#/channels/orders/messages/{event_type}")


def payload_schema(event_type: str) -> dict[str, Any]:
    schema = resolve(DOCUMENT, message(event_type)["payload"]["$ref"])
    assert isinstance(schema, dict)
    return schema


def every_event() -> list[OrderEventV1]:
    """Each event with every optional field, and without."""
    order = {"event_id": uuid4(), "occurred_at": AT, "order_id": uuid4()}
    return [
        OrderCreatedV1(
            **order,
            customer_name="Zoë 李",
            total_amount=Decimal("199.90"),
            created_at=AT,
            customer_id="lucas",
        ),
        OrderCreatedV1(**order, customer_name="L", total_amount=Decimal(1), created_at=AT),
        OrderConfirmedV1(**order, order_version=2, customer_id="lucas"),
        OrderConfirmedV1(**order, order_version=2),
        OrderShippedV1(**order, order_version=3, tracking_number="1Z999AA1", customer_id="x"),
        OrderShippedV1(**order, order_version=3),
        OrderCancelledV1(**order, order_version=2, reason="Ordered twice", customer_id="x"),
        OrderCancelledV1(**order, order_version=4),
    ]


def test_the_committed_document_is_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == asyncapi_json(), (
        "docs/asyncapi.json differs from what contracts/ generates: run `make asyncapi` "
        "and commit docs/asyncapi.json"
    )


def test_the_document_is_valid_asyncapi_3() -> None:
    validator = jsonschema.Draft7Validator(ASYNCAPI_3_SCHEMA)

    errors = [
        f"{list(error.absolute_path)}: {error.message}" for error in validator.iter_errors(DOCUMENT)
    ]

    assert DOCUMENT["asyncapi"] == "3.0.0"
    assert errors == []


def test_the_asyncapi_schema_refuses_what_is_no_asyncapi_3() -> None:
    """The validator above is not vacuous."""
    validator = jsonschema.Draft7Validator(ASYNCAPI_3_SCHEMA)
    wrong_action = json.loads(asyncapi_json())
    wrong_action["operations"]["receiveOrderEvents"]["action"] = "consume"
    no_version = json.loads(asyncapi_json())
    del no_version["info"]["version"]

    assert not validator.is_valid(wrong_action)
    assert not validator.is_valid(no_version)


def test_every_reference_resolves() -> None:
    def references(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return own + [ref for value in node.values() for ref in references(value)]
        if isinstance(node, list):
            return [ref for value in node for ref in references(value)]
        return []

    refs = references(DOCUMENT)

    assert refs
    for ref in refs:
        assert isinstance(resolve(DOCUMENT, ref), dict), ref


def test_one_channel_keyed_by_order_id_with_every_event_and_a_receive_operation() -> None:
    channel = DOCUMENT["channels"]["orders"]
    (operation,) = DOCUMENT["operations"].values()

    assert channel["address"] == "{ordersTopic}"
    assert channel["parameters"]["ordersTopic"]["default"] == "orders"
    assert "ORDER_EVENTS_TOPIC" in channel["parameters"]["ordersTopic"]["description"]
    assert ".dlq" in channel["description"]
    assert list(channel["messages"]) == list(EVENT_TYPES)
    assert operation["action"] == "receive"
    assert resolve(DOCUMENT, operation["channel"]["$ref"]) is channel
    assert [resolve(DOCUMENT, ref["$ref"]) for ref in operation["messages"]] == [
        message(name) for name in EVENT_TYPES
    ]
    for name in EVENT_TYPES:
        assert message(name)["name"] == name
        assert message(name)["title"]
        assert message(name)["summary"]
        assert message(name)["contentType"] == "application/json"
        assert "order id" in message(name)["bindings"]["kafka"]["key"]["description"]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_each_schema_is_a_json_schema(event_type: str) -> None:
    jsonschema.Draft7Validator.check_schema(payload_schema(event_type))
    jsonschema.Draft202012Validator.check_schema(payload_schema(event_type))
    jsonschema.Draft7Validator.check_schema(message(event_type)["headers"])
    assert message(event_type)["headers"]["type"] == "object"


@pytest.mark.parametrize("event", every_event(), ids=lambda event: type(event).__name__)
def test_every_message_the_order_service_writes_is_valid_under_the_document(
    event: OrderEventV1,
) -> None:
    event_type = event.event_type
    value = json.loads(event.to_json())
    headers = {
        name: raw.decode()
        for name, raw in event_headers(
            traceparent=TRACEPARENT, correlation_id="c-1", event_type=event_type
        )
    }
    minimal_headers = {name: raw.decode() for name, raw in event_headers(event_type=event_type)}

    jsonschema.validate(value, payload_schema(event_type))
    jsonschema.validate(headers, message(event_type)["headers"])
    jsonschema.validate(minimal_headers, message(event_type)["headers"])


@pytest.mark.parametrize(
    ("event_type", "change"),
    [
        ("OrderCreated", {"eventType": "OrderShipped"}),
        ("OrderCreated", {"totalAmount": 199.9}),
        ("OrderCreated", {"totalAmount": "199.9"}),
        ("OrderCreated", {"customerName": "Lu\ncas"}),
        ("OrderCreated", {"customerId": None}),
        ("OrderCreated", {"orderVersion": 2}),
        ("OrderCreated", {"createdAt": "2026-12-06T08:00:00+01:00"}),
        ("OrderConfirmed", {"orderVersion": 1}),
        ("OrderShipped", {"trackingNumber": ""}),
        ("OrderCancelled", {"reason": "x" * 501}),
        ("OrderCancelled", {"orderId": None}),
    ],
)
def test_messages_it_never_writes_are_invalid(event_type: str, change: dict[str, Any]) -> None:
    (valid,) = [
        json.loads(event.to_json())
        for event in every_event()[::2]
        if event.event_type == event_type
    ]
    invalid = {**valid, **change}

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(invalid, payload_schema(event_type))


@pytest.mark.parametrize("missing", ["eventId", "eventType", "eventVersion", "orderId"])
def test_a_message_without_what_every_event_carries_is_invalid(missing: str) -> None:
    for event in every_event()[::2]:
        value = json.loads(event.to_json())
        del value[missing]

        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(value, payload_schema(event.event_type))


def test_headers_of_another_event_type_are_invalid() -> None:
    headers = {name: raw.decode() for name, raw in event_headers(event_type="OrderShipped")}

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(headers, message("OrderCreated")["headers"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**headers, "event-version": "2"}, message("OrderShipped")["headers"])


def test_order_created_agrees_with_its_standalone_schema() -> None:
    """`order_created.v1.schema.json` is the older, hand-written file for other languages."""
    standalone = json.loads(SCHEMA_PATH.read_text())
    generated = payload_schema("OrderCreated")
    rules = ("format", "pattern", "const", "minLength", "maxLength")

    assert set(generated["required"]) == set(standalone["required"])
    assert set(generated["properties"]) == set(standalone["properties"])
    for name, rule in standalone["properties"].items():
        mine = generated["properties"][name]
        assert {k: mine.get(k) for k in rules} == {k: rule.get(k) for k in rules}, name


def test_an_old_order_created_without_order_version_is_valid() -> None:
    """Published before orders had a life; consumers read it as version 1."""
    value = json.loads(every_event()[0].to_json())
    del value["orderVersion"]

    jsonschema.validate(value, payload_schema("OrderCreated"))
