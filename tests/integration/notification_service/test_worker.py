"""The worker in-process against Kafka, Redis and a real webhook: fan-out, DLQ, dedup, outages."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from uuid import UUID

import httpx
from aiokafka import ConsumerRecord
from prometheus_client import REGISTRY

from order_platform.building_blocks.kafka.consumer import ConsumerConfig, Delivery
from order_platform.contracts import OrderCreatedV1, dead_letter_topic
from order_platform.devtools.embedded import RedisServer
from order_platform.notification_service.infrastructure.settings import (
    NotificationServiceSettings,
)
from tests.integration.notification_service.conftest import running
from tests.integration.notification_service.webhook_receiver import WebhookReceiver
from tests.support.consumers import consuming
from tests.support.events import order_created, produce
from tests.support.kafka_topic import read_topic
from tests.support.waiting import eventually
from tests.unit.notification_service.builders import order_cancelled, order_confirmed


class RecordingProjection:
    """Stands in for the read side: remembers every event it was handed."""

    def __init__(self) -> None:
        self.seen: set[UUID] = set()

    async def __call__(self, deliveries: Sequence[Delivery[OrderCreatedV1]]) -> None:
        self.seen.update(delivery.event.event_id for delivery in deliveries)


def read_side(
    settings: NotificationServiceSettings, handler: RecordingProjection
) -> AbstractAsyncContextManager[object]:
    """A second consumer group, as the read service's, on the same topic."""
    config = ConsumerConfig(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic=settings.order_events_topic,
        group_id="order-read-service",
        session_timeout_ms=2000,
        heartbeat_interval_ms=300,
    )
    return consuming(config, handler)


type Record = ConsumerRecord[bytes, bytes]


async def dead_letters(settings: NotificationServiceSettings, count: int) -> list[Record]:
    topic = dead_letter_topic(settings.order_events_topic, settings.consumer_group)

    async def letters() -> list[Record]:
        found = await read_topic(settings.kafka_bootstrap_servers, topic)
        return found if len(found) >= count else []

    return await eventually(letters, timeout=15, what=f"{count} dead letters")


async def received(receiver: WebhookReceiver, count: int) -> None:
    async def enough() -> bool:
        return sum(receiver.event_ids().values()) >= count

    await eventually(enough, timeout=15, what=f"{count} notifications received")


async def test_fan_out_every_event_reaches_the_read_side_and_the_notifier(
    settings: NotificationServiceSettings, receiver: WebhookReceiver
) -> None:
    settings = settings.model_copy(update={"consumer_group": "notification-service"})
    events = [order_created(customer_name=f"Customer {n}") for n in range(20)]
    projection = RecordingProjection()

    async with read_side(settings, projection), running(settings):
        await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, events)
        await received(receiver, len(events))

        async def projected() -> bool:
            return len(projection.seen) == len(events)

        await eventually(projected, what="the read side saw every event")

    assert receiver.event_ids() == {str(e.event_id): 1 for e in events}
    assert projection.seen == {e.event_id for e in events}


async def test_guarantee_3_failing_webhook_calls_are_retried_then_dead_lettered_and_the_worker_moves_on(
    settings: NotificationServiceSettings, receiver: WebhookReceiver
) -> None:
    first, after = order_created(), order_created()
    slow = order_created(customer_name="Slow Lucas")
    broken = order_created(customer_name="Broken Lucas")
    refused = order_created(customer_name="Refused Lucas")
    key = str(first.order_id).encode()
    # One partition (one key), so `after` has to get past the failures.
    await produce(
        settings.kafka_bootstrap_servers,
        settings.order_events_topic,
        [m.to_json() for m in (first, slow, broken, refused, after)],
        key=key,
    )

    async with running(settings):
        letters = await dead_letters(settings, 3)
        await received(receiver, 2)

    assert receiver.event_ids() == {str(first.event_id): 1, str(after.event_id): 1}
    by_customer = {OrderCreatedV1.from_json(r.value).customer_name: r for r in letters}
    assert set(by_customer) == {"Slow Lucas", "Broken Lucas", "Refused Lucas"}
    assert receiver.attempts["Broken Lucas"] >= settings.notification_max_attempts
    errors = {name: dict(r.headers)["dlq-error"].decode() for name, r in by_customer.items()}
    assert "timed out" in errors["Slow Lucas"]
    assert "answered 500" in errors["Broken Lucas"]
    assert "NotificationRejected" in errors["Refused Lucas"]
    for record in by_customer.values():
        headers = dict(record.headers)
        assert headers["dlq-original-topic"] == settings.order_events_topic.encode()
        assert headers["dlq-original-partition"].isdigit()
        assert headers["dlq-original-offset"].isdigit()
        assert headers["dlq-consumer-group"] == settings.consumer_group.encode()
        assert headers["event-type"] == b"OrderCreated"


async def test_guarantee_3_poison_events_are_dead_lettered_with_their_headers(
    settings: NotificationServiceSettings, receiver: WebhookReceiver
) -> None:
    valid = order_created()
    wire = json.loads(valid.to_json())
    poison = [
        b"not json at all",
        json.dumps({"eventType": "OrderCreated", "eventVersion": 1}).encode(),
        json.dumps(wire | {"eventVersion": 2}).encode(),
    ]
    after = order_created()
    key = str(after.order_id).encode()
    await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, poison, key=key)
    await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, [after])

    async with running(settings):
        letters = await dead_letters(settings, 3)
        await received(receiver, 1)

    assert sorted(r.value for r in letters) == sorted(poison)
    for record in letters:
        headers = dict(record.headers)
        assert headers["dlq-error"].startswith(b"invalid event")
        assert headers["dlq-original-topic"] == settings.order_events_topic.encode()
        assert headers["dlq-original-offset"].isdigit()
    assert receiver.event_ids() == {str(after.event_id): 1}


async def test_guarantee_2_two_replicas_and_duplicate_publishes_send_each_event_once(
    settings: NotificationServiceSettings, receiver: WebhookReceiver
) -> None:
    events = [order_created() for _ in range(12)]
    # Each event published twice under different keys, so the copies land on different
    # partitions, often held by different replicas; slow answers widen the race.
    receiver.delay_seconds = 0.05
    copies = [e.to_json() for e in events]
    topic = settings.order_events_topic
    await produce(settings.kafka_bootstrap_servers, topic, copies, key=b"first")
    await produce(settings.kafka_bootstrap_servers, topic, copies, key=b"second-copy")

    before = deduplicated()  # both replicas share this process's registry

    async with running(settings), running(settings):
        await received(receiver, len(events))

        async def every_copy_handled() -> bool:
            return deduplicated() - before >= len(events)

        await eventually(every_copy_handled, what="every second copy recognised as a duplicate")

    assert receiver.event_ids() == {str(e.event_id): 1 for e in events}


async def test_guarantee_2_redis_down_is_waited_for_without_dead_lettering(
    settings: NotificationServiceSettings, receiver: WebhookReceiver, redis_server: RedisServer
) -> None:
    event = order_created()
    async with running(settings) as worker:
        await eventually(lambda: _ready(worker), what="worker ready")
        with redis_server.stopped():
            await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, [event])

            async def not_ready() -> bool:
                response = await worker.get("/health/ready")
                return response.status_code == 503 and "redis" in response.json()["checks"]

            await eventually(not_ready, what="readiness reports Redis away")

            async def waiting_for_redis() -> bool:
                # Beyond max_attempts, and still no dead letter.
                return retried(settings) >= settings.notification_max_attempts + 2

            await eventually(waiting_for_redis, what="the worker retrying while Redis is away")
            assert receiver.event_ids() == {}
        await received(receiver, 1)
        await eventually(lambda: _ready(worker), what="ready again")

    assert receiver.event_ids() == {str(event.event_id): 1}
    dlq = dead_letter_topic(settings.order_events_topic, settings.consumer_group)
    assert await read_topic(settings.kafka_bootstrap_servers, dlq) == []


async def test_health_and_metrics_on_the_worker_port(
    settings: NotificationServiceSettings, receiver: WebhookReceiver
) -> None:
    async with running(settings) as worker:
        await eventually(lambda: _ready(worker), what="worker ready")
        ready = (await worker.get("/health/ready")).json()
        live = await worker.get("/health/live")
        metrics = (await worker.get("/metrics")).text
        missing = await worker.get("/nothing-here")

    assert ready == {"status": "ok", "checks": {"redis": "ok", "consumer": "ok"}}
    assert live.status_code == 200
    assert "notifications_total" in metrics
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def deduplicated() -> float:
    return REGISTRY.get_sample_value("notifications_total", {"outcome": "deduplicated"}) or 0.0


def retried(settings: NotificationServiceSettings) -> float:
    labels = {"group": settings.consumer_group, "outcome": "retried"}
    return REGISTRY.get_sample_value("consumer_events_total", labels) or 0.0


async def _ready(worker: httpx.AsyncClient) -> bool:
    return (await worker.get("/health/ready")).status_code == 200


async def test_a_cancel_whose_confirmation_comes_late_is_notified_after_it(
    settings: NotificationServiceSettings, receiver: WebhookReceiver
) -> None:
    """Through Kafka and Redis: the cancel (version 3) arrives before the confirmation
    (version 2), is parked, and is notified right after the confirmation; another order is
    not held up meanwhile."""
    placed, other = order_created(customer_name="Ana"), order_created(customer_name="Bia")
    order = placed.order_id
    key = str(order).encode()
    topic, servers = settings.order_events_topic, settings.kafka_bootstrap_servers
    cancel = order_cancelled(order, reason="Changed my mind")

    async with running(settings):
        await produce(servers, topic, [placed.to_json(), cancel.to_json()], key=key)
        await produce(servers, topic, [other])
        await received(receiver, 2)
        assert set(receiver.event_ids()) == {str(placed.event_id), str(other.event_id)}
        await produce(servers, topic, [order_confirmed(order).to_json()], key=key)
        await received(receiver, 4)

    of_order = [body for body in receiver.received if body["orderId"] == str(order)]
    assert [(body["eventType"], body.get("customerName")) for body in of_order] == [
        ("OrderCreated", "Ana"),
        ("OrderConfirmed", "Ana"),
        ("OrderCancelled", "Ana"),
    ]
    assert of_order[-1]["reason"] == "Changed my mind"
