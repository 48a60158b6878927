"""The console's window of the topic keeps every event of an order (not only its creation),
the first publish of each version, for where-is-my-order."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from aiokafka import ConsumerRecord

from order_platform.console.infrastructure.topic_window import KafkaOrderStream
from order_platform.contracts.order_events import OrderConfirmedV1, OrderEventV1, OrderShippedV1
from tests.support.events import order_created

AT = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def record(
    event: OrderEventV1 | bytes, offset: int, timestamp_ms: int
) -> ConsumerRecord[bytes, bytes]:
    value = event if isinstance(event, bytes) else event.to_json()
    return ConsumerRecord(
        "orders", 0, offset, timestamp_ms, 0, None, value, None, 0, len(value), []
    )


def test_every_event_of_an_order_is_kept_by_version_the_first_publish_of_each() -> None:
    stream = KafkaOrderStream("unused:9092", "orders", kept=10)
    created = order_created(created_at=AT)
    confirm = OrderConfirmedV1(
        event_id=uuid4(), occurred_at=AT, order_id=created.order_id, order_version=2
    )
    ship = OrderShippedV1(
        event_id=uuid4(), occurred_at=AT, order_id=created.order_id, order_version=3
    )
    base = int(AT.timestamp() * 1000)

    published: list[OrderEventV1 | bytes] = [ship, created, confirm, b"{not an event", confirm]
    for offset, event in enumerate(published):
        stream.remember(record(event, offset, base + offset))

    kept = stream.events(created.order_id)
    assert [(e.event_type, e.version, e.event_id) for e in kept] == [
        ("OrderCreated", 1, created.event_id),
        ("OrderConfirmed", 2, confirm.event_id),
        ("OrderShipped", 3, ship.event_id),
    ]
    assert kept[1].published_at == datetime.fromtimestamp((base + 2) / 1000, UTC)  # not the repeat
    assert [seen.order_id for seen in stream.recent(10)] == [created.order_id]  # creations only


def test_the_events_of_at_most_kept_orders_are_remembered() -> None:
    stream = KafkaOrderStream("unused:9092", "orders", kept=2)
    orders = [order_created(created_at=AT) for _ in range(3)]
    for offset, event in enumerate(orders):
        stream.remember(record(event, offset, offset))

    assert stream.events(orders[0].order_id) == []
    assert [e.version for e in stream.events(orders[2].order_id)] == [1]
