"""Guarantee 8: real members join and leave the group while a batch is in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

import pytest
from aiokafka import TopicPartition

from order_platform.building_blocks.kafka.consumer import ConsumerConfig, ConsumerRunner, Delivery
from order_platform.building_blocks.kafka.dead_letters import DeadLetterPublisher
from order_platform.contracts import InvalidEvent, OrderCreatedV1
from order_platform.devtools.embedded.kafka import create_topic
from tests.support.consumers import Recorder, consuming, fast_config
from tests.support.events import order_created, produce
from tests.support.kafka_lag import uncommitted
from tests.support.waiting import eventually


class BlockingHandler:
    """Records what it applied; its first batch waits until the test releases it."""

    def __init__(self) -> None:
        self.applied: set[UUID] = set()
        self.blocked = asyncio.Event()
        self.release = asyncio.Event()
        self.blocked_partitions: set[int] = set()

    async def __call__(self, deliveries: Sequence[Delivery[OrderCreatedV1]]) -> None:
        if not self.blocked.is_set():
            self.blocked_partitions = {d.record.partition for d in deliveries}
            self.blocked.set()
            await self.release.wait()
        self.applied.update(d.event.order_id for d in deliveries)


@pytest.fixture
def config(kafka_bootstrap: str, unique_name: str) -> ConsumerConfig:
    return fast_config(kafka_bootstrap, unique_name, max_batch=500)  # one batch, every partition


async def test_guarantee_8_a_member_mid_batch_survives_members_joining_and_leaving(
    config: ConsumerConfig,
) -> None:
    await create_topic(config.bootstrap_servers, config.topic, 4)
    first_wave = [order_created() for _ in range(40)]
    await produce(config.bootstrap_servers, config.topic, first_wave)
    first = BlockingHandler()
    runner = _runner(config, first)
    task = asyncio.create_task(runner.run())
    try:
        await eventually(_is_set(first.blocked), timeout=20, what="the first batch in flight")
        owned_before = set(_assignment(runner))

        second = Recorder()
        async with consuming(config, second) as joined:
            # The group rebalances while the first member still holds its batch.
            await eventually(
                lambda: _async(bool(_assignment(joined))), timeout=20, what="the second joined"
            )
            assert set(_assignment(runner)) != owned_before, "the group rebalanced mid-batch"
            moved = first.blocked_partitions - {tp.partition for tp in _assignment(runner)}
            assert moved, "some partitions of the batch in flight now belong to the second"
            first.release.set()
            await eventually(
                lambda: _async(len(first.applied | second.applied) == len(first_wave)),
                timeout=20,
                what="the first wave applied by the two members",
            )
        # The second member left: the first one takes every partition again and goes on.
        second_wave = [order_created() for _ in range(20)]
        await produce(config.bootstrap_servers, config.topic, second_wave)
        await eventually(
            lambda: _async({e.order_id for e in second_wave} <= first.applied),
            timeout=20,
            what="the second wave applied by the member that was mid-batch",
        )
        assert not task.done(), f"the consumer stopped: {task}"
        await eventually(
            lambda: _caught_up(config),
            timeout=20,
            what="every offset committed by the survivor",
        )
        assert {e.order_id for e in first_wave} <= first.applied | second.applied
    finally:
        runner.request_stop()
        first.release.set()
        await asyncio.wait_for(task, 10)


def _runner(config: ConsumerConfig, handler: BlockingHandler) -> ConsumerRunner[OrderCreatedV1]:
    return ConsumerRunner(
        config,
        decode=OrderCreatedV1.from_json,
        handle=handler,
        dead_letters=DeadLetterPublisher(
            config.bootstrap_servers, config.group_id, enable_idempotence=False
        ),
        invalid=InvalidEvent,
    )


def _assignment(runner: ConsumerRunner[OrderCreatedV1]) -> set[TopicPartition]:
    consumer = runner.consumer
    return set(consumer.assignment()) if consumer is not None else set()


def _is_set(event: asyncio.Event) -> Callable[[], Awaitable[bool]]:
    return lambda: _async(event.is_set())


async def _async(value: bool) -> bool:
    return value


async def _caught_up(config: ConsumerConfig) -> bool:
    lag = await uncommitted(config.bootstrap_servers, config.topic, [config.group_id])
    return lag[config.group_id] == 0
