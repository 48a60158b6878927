"""The shared consumer loop against the embedded broker: commit after effect, DLQ, retries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from uuid import UUID

import pytest

from order_platform.building_blocks.kafka.consumer import ConsumerConfig, Delivery
from order_platform.contracts import OrderCreatedV1, dead_letter_topic
from order_platform.contracts.errors import Unavailable
from tests.support.consumers import consuming, fast_config
from tests.support.events import order_created, produce
from tests.support.kafka_topic import read_topic
from tests.support.waiting import eventually


class StoreAway(Unavailable):
    pass


class RecordingHandler:
    """Applies events into a dict; can be told to fail for some orders or some time."""

    def __init__(self) -> None:
        self.applied: dict[UUID, OrderCreatedV1] = {}
        self.always_failing: set[UUID] = set()
        self.unavailable_times = 0
        self.calls = 0

    async def __call__(self, deliveries: Sequence[Delivery[OrderCreatedV1]]) -> None:
        self.calls += 1
        if self.unavailable_times:
            self.unavailable_times -= 1
            raise StoreAway("store is away")
        for delivery in deliveries:
            if delivery.event.order_id in self.always_failing:
                raise RuntimeError(f"cannot apply {delivery.event.order_id}")
        for delivery in deliveries:
            self.applied[delivery.event.order_id] = delivery.event


@pytest.fixture
def config(kafka_bootstrap: str, unique_name: str) -> ConsumerConfig:
    return fast_config(kafka_bootstrap, unique_name, max_attempts=3)


async def test_every_event_is_handled_and_committed(config: ConsumerConfig) -> None:
    events = [order_created(customer_name=f"C{n}") for n in range(20)]
    await produce(config.bootstrap_servers, config.topic, events)
    handler = RecordingHandler()

    async with consuming(config, handler):
        await eventually(lambda: _count(handler, 20), what="all events applied")

    again = RecordingHandler()
    await produce(config.bootstrap_servers, config.topic, [last := order_created()])
    async with consuming(config, again):
        await eventually(lambda: _count(again, 1), what="only the new event")
    assert list(again.applied) == [last.order_id], "committed events are not delivered again"


async def test_guarantee_3_poison_events_are_dead_lettered_and_the_partition_moves_on(
    config: ConsumerConfig,
) -> None:
    valid = order_created()
    wire = json.loads(valid.to_json())
    missing_fields = json.dumps({"eventType": "OrderCreated", "eventVersion": 1}).encode()
    wrong_version = json.dumps(wire | {"eventVersion": 2}).encode()
    poison = [b"not json at all", missing_fields, wrong_version]
    after = order_created()
    # One key, so all of them share a partition and `after` has to get past the poison.
    await produce(config.bootstrap_servers, config.topic, poison, key=str(after.order_id).encode())
    await produce(config.bootstrap_servers, config.topic, [after])
    handler = RecordingHandler()

    async with consuming(config, handler):
        await eventually(lambda: _count(handler, 1), what="the event after the poison applied")

    dlq = dead_letter_topic(config.topic, config.group_id)
    letters = await read_topic(config.bootstrap_servers, dlq)
    assert sorted(letter.value for letter in letters) == sorted(poison)
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["dlq-error"].startswith(b"invalid event")
        assert headers["dlq-original-topic"] == config.topic.encode()
        assert int(headers["dlq-original-offset"]) >= 0
        assert headers["dlq-original-partition"].isdigit()
        assert headers["event-type"] == b"OrderCreated"


async def test_an_event_that_keeps_failing_is_dead_lettered_alone(config: ConsumerConfig) -> None:
    events = [order_created() for _ in range(5)]
    handler = RecordingHandler()
    handler.always_failing.add(events[2].order_id)
    await produce(config.bootstrap_servers, config.topic, events)

    async with consuming(config, handler):
        await eventually(lambda: _count(handler, 4), what="the other four applied")
        letters = await eventually(
            lambda: read_topic(
                config.bootstrap_servers, dead_letter_topic(config.topic, config.group_id)
            ),
            what="one dead letter",
        )

    assert set(handler.applied) == {e.order_id for e in events} - {events[2].order_id}
    assert [OrderCreatedV1.from_json(letter.value).order_id for letter in letters] == [
        events[2].order_id
    ]
    assert dict(letters[0].headers)["dlq-error"].startswith(b"handler failed")


async def test_an_unavailable_dependency_is_waited_for_without_dead_lettering(
    config: ConsumerConfig,
) -> None:
    handler = RecordingHandler()
    handler.unavailable_times = 10  # far more than max_attempts
    await produce(config.bootstrap_servers, config.topic, [event := order_created()])

    async with consuming(config, handler):
        await eventually(lambda: _count(handler, 1), what="applied once the store is back")

    assert handler.calls == 11
    assert list(handler.applied) == [event.order_id]
    assert (
        await read_topic(config.bootstrap_servers, dead_letter_topic(config.topic, config.group_id))
        == []
    )


async def _count(handler: RecordingHandler, expected: int) -> bool:
    return len(handler.applied) >= expected
