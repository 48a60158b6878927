"""The consumer loop waits on any `Unavailable`, whoever raised it, and dead-letters nothing
because of it; any other failure is retried a bounded number of times, then dead-lettered."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import ConsumerRecord, TopicPartition

from order_platform.building_blocks.kafka.consumer import (
    Batches,
    ConsumerConfig,
    ConsumerRunner,
    Delivery,
    GroupMember,
)
from order_platform.contracts import InvalidEvent, OrderCreatedV1
from order_platform.contracts.errors import Unavailable
from tests.support.events import order_created
from tests.support.waiting import eventually

PARTITION = TopicPartition("orders", 0)
MAX_ATTEMPTS = 3


class ShelfAway(Unavailable):
    """An adapter's own unavailable, unknown to the consumer loop."""


class OneBatchMember:
    """A group member holding one partition with one batch; records what is committed."""

    def __init__(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        self.pending = records
        self.committed: list[dict[TopicPartition, int]] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def getmany(self, *, timeout_ms: int, max_records: int) -> Batches:
        batch, self.pending = self.pending, []
        if not batch:
            await asyncio.sleep(timeout_ms / 1000)
            return {}
        return {PARTITION: batch}

    def assignment(self) -> set[TopicPartition]:
        return {PARTITION}

    def highwater(self, partition: TopicPartition) -> int | None:
        return None

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.append(offsets)


class RecordingDeadLetters:
    def __init__(self) -> None:
        self.letters: list[str] = []

    async def publish(self, record: ConsumerRecord[bytes, bytes], error: str) -> str:
        self.letters.append(error)
        return "published"


class FailingHandler:
    """Raises `failure` on its first `times` calls, then applies the batch."""

    def __init__(self, failure: Exception, times: int) -> None:
        self.failure = failure
        self.times = times
        self.calls = 0
        self.applied: list[OrderCreatedV1] = []

    async def __call__(self, deliveries: Sequence[Delivery[OrderCreatedV1]]) -> None:
        self.calls += 1
        if self.calls <= self.times:
            raise self.failure
        self.applied.extend(delivery.event for delivery in deliveries)


def record_of(event: OrderCreatedV1) -> ConsumerRecord[bytes, bytes]:
    value = event.to_json()
    return ConsumerRecord(
        topic=PARTITION.topic,
        partition=PARTITION.partition,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=[],
    )


async def consume(
    handler: FailingHandler, member: OneBatchMember, dead_letters: RecordingDeadLetters
) -> None:
    config = ConsumerConfig(
        bootstrap_servers="unused:9092",
        topic=PARTITION.topic,
        group_id="test",
        batch_linger_ms=0,
        max_attempts=MAX_ATTEMPTS,
        backoff_base_seconds=0.001,
        backoff_max_seconds=0.002,
    )

    def join(config: ConsumerConfig) -> GroupMember:
        return member

    runner = ConsumerRunner(
        config,
        decode=OrderCreatedV1.from_json,
        handle=handler,
        dead_letters=dead_letters,  # type: ignore[arg-type]
        invalid=InvalidEvent,
        new_member=join,
    )

    async def batch_done() -> bool:
        return bool(member.committed)

    running = asyncio.create_task(runner.run())
    try:
        await eventually(batch_done, what="the batch committed")
    finally:
        runner.request_stop()
        await running


async def test_any_unavailable_is_waited_for_beyond_the_bounded_retries() -> None:
    event = order_created()
    handler = FailingHandler(ShelfAway("the shelf is away"), times=MAX_ATTEMPTS * 3)
    member, dead_letters = OneBatchMember([record_of(event)]), RecordingDeadLetters()

    await consume(handler, member, dead_letters)

    assert dead_letters.letters == []
    assert handler.applied == [event]
    assert handler.calls == MAX_ATTEMPTS * 3 + 1
    assert member.committed == [{PARTITION: 1}]


async def test_a_failure_of_no_category_is_dead_lettered_after_the_bounded_retries() -> None:
    event = order_created()
    handler = FailingHandler(RuntimeError("cannot apply"), times=MAX_ATTEMPTS * 3)
    member, dead_letters = OneBatchMember([record_of(event)]), RecordingDeadLetters()

    await consume(handler, member, dead_letters)

    assert len(dead_letters.letters) == 1
    assert "cannot apply" in dead_letters.letters[0]
    assert handler.applied == []
    assert handler.calls == MAX_ATTEMPTS
    assert member.committed == [{PARTITION: 1}]
