"""A team on another language can consume the order events (issue 25, item 7): the Order
Service's real messages (its outbox entries, sent by its relay's publisher) are read from the
embedded broker with librdkafka (confluent-kafka), as a consumer that knows nothing of this code,
and each is valid under the committed AsyncAPI document: its payload under the JSON Schema its
`event-type` header names, its headers and its key as documented.

The consumer assigns partitions and offsets itself: a librdkafka group join takes about 25 s on
the embedded broker (docs/design.md, "Servers")."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import jsonschema
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from order_platform.order_service.domain import Order
from order_platform.order_service.outbox.entry import OutboxEntry
from order_platform.order_service.outbox.kafka_publisher import KafkaPublisher

DOCUMENT = json.loads(
    (Path(__file__).resolve().parents[3] / "docs" / "asyncapi.json").read_text(encoding="utf-8")
)
TIMEOUT = 15.0


def resolve(ref: str) -> Any:
    node: Any = DOCUMENT
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return resolve(node["$ref"]) if "$ref" in node else node


def documented_message(event_type: str) -> dict[str, Any]:
    """The document's message for an `event-type`, as a reader in any language finds it: among
    the messages of the operation that receives from the orders channel."""
    (operation,) = (op for op in DOCUMENT["operations"].values() if op["action"] == "receive")
    messages = [resolve(ref["$ref"]) for ref in operation["messages"]]
    (found,) = (message for message in messages if message["name"] == event_type)
    return found


def lives_of_two_orders() -> list[OutboxEntry]:
    """Every event type: one order placed, confirmed and shipped, another placed and cancelled."""
    now = datetime.now(UTC)
    shipped = Order.create(
        order_id=uuid4(),
        event_id=uuid4(),
        customer_name="Zoë 李",
        total_amount=Decimal("199.90"),
        now=now,
        customer_id="lucas",
    )
    shipped.confirm(event_id=uuid4(), now=now)
    shipped.ship(event_id=uuid4(), now=now, tracking_number="1Z999AA1")
    cancelled = Order.create(
        order_id=uuid4(), event_id=uuid4(), customer_name="Ana", total_amount=Decimal(5), now=now
    )
    cancelled.cancel(event_id=uuid4(), now=now, reason="Ordered twice")
    return [
        OutboxEntry.for_event(
            event,
            owner="test",
            lease_until=now + timedelta(minutes=1),
            correlation_id="req-1" if order is shipped else None,
        )
        for order in (shipped, cancelled)
        for event in order.events
    ]


def consume_with_librdkafka(bootstrap: str, topic: str, expected: int) -> list[Message]:
    """Every message of `topic` from its beginning, until `expected` came (or the deadline)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{topic}-reader",  # required by librdkafka; never joined (assign)
            "enable.auto.commit": False,
            "socket.timeout.ms": 10_000,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=TIMEOUT)
        partitions = sorted(metadata.topics[topic].partitions)
        assert partitions, f"topic {topic} has no partitions"
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        received: list[Message] = []
        deadline = time.monotonic() + TIMEOUT
        while len(received) < expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"read {len(received)} of {expected} messages in {TIMEOUT} s")
            message = consumer.poll(min(remaining, 1.0))
            if message is None:
                continue
            error = message.error()
            if error is not None and error.code() != KafkaError._PARTITION_EOF:
                raise AssertionError(f"librdkafka: {error}")
            if error is None:
                received.append(message)
        return received
    finally:
        consumer.close()


async def test_a_librdkafka_consumer_reads_every_event_type_valid_under_the_asyncapi_document(
    kafka_bootstrap: str, unique_name: str
) -> None:
    entries = lives_of_two_orders()
    publisher = KafkaPublisher(kafka_bootstrap, unique_name, enable_idempotence=False)
    try:
        assert await publisher.publish(entries) == entries
    finally:
        await publisher.close()

    messages = await asyncio.to_thread(
        consume_with_librdkafka, kafka_bootstrap, unique_name, len(entries)
    )

    seen = []
    for message in messages:
        headers = {name: value.decode() for name, value in message.headers() or []}
        documented = documented_message(headers["event-type"])
        value = json.loads(message.value())
        key = message.key().decode()

        jsonschema.validate(headers, documented["headers"])
        jsonschema.validate(value, resolve(documented["payload"]["$ref"]))
        jsonschema.validate(
            key,
            documented["bindings"]["kafka"]["key"],
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )
        assert key == value["orderId"]
        assert value["eventType"] == headers["event-type"]
        seen.append((value["orderId"], value["orderVersion"], value["eventType"]))
    assert {event_type for _, _, event_type in seen} == {
        "OrderCreated",
        "OrderConfirmed",
        "OrderShipped",
        "OrderCancelled",
    }
    # One order's events in one partition, in the order they happened.
    for order_id in {order_id for order_id, _, _ in seen}:
        versions = [version for oid, version, _ in seen if oid == order_id]
        assert versions == sorted(versions)
    assert len(seen) == len(entries)
