"""Guarantee 9: `consumer_lag` covers every partition of the topic, whoever owns it."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import REGISTRY

from order_platform.building_blocks.kafka.consumer import ConsumerConfig, ConsumerRunner, Delivery
from order_platform.building_blocks.kafka.dead_letters import DeadLetterPublisher
from order_platform.contracts import InvalidEvent, OrderCreatedV1, event_headers
from order_platform.devtools.embedded.kafka import create_topic
from tests.support.consumers import fast_config
from tests.support.events import order_created
from tests.support.waiting import eventually

PARTITIONS = 4
PER_PARTITION = 10
COMMITTED = 2  # by the member that then dies

# A member of the group in its own process: it takes the partitions, commits COMMITTED on
# each, and is then killed without leaving (its session outlives the test's checks).
DEAD_MEMBER = textwrap.dedent(
    """
    import asyncio, sys
    from aiokafka import AIOKafkaConsumer

    async def main(bootstrap, topic, group, committed):
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
            auto_offset_reset="earliest", session_timeout_ms=10000, heartbeat_interval_ms=1000,
        )
        await consumer.start()
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        await consumer.commit({tp: int(committed) for tp in consumer.assignment()})
        print("committed", len(consumer.assignment()), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main(*sys.argv[1:]))
    """
)


class Stuck:
    """A handler that never finishes its first batch: this member commits nothing."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, deliveries: Sequence[Delivery[OrderCreatedV1]]) -> None:
        await self.release.wait()


@pytest.fixture
def config(kafka_bootstrap: str, unique_name: str) -> ConsumerConfig:
    return fast_config(kafka_bootstrap, unique_name, max_batch=1, lag_interval_seconds=0.2)


async def produce_to_every_partition(config: ConsumerConfig) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=config.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for partition in range(PARTITIONS):
            for _ in range(PER_PARTITION):
                # One record per request: the embedded broker's end offsets are exact then.
                await producer.send_and_wait(
                    config.topic,
                    order_created().to_json(),
                    partition=partition,
                    headers=event_headers(),
                )
    finally:
        await producer.stop()


def lag_of(config: ConsumerConfig) -> dict[int, float]:
    lag = {}
    for partition in range(PARTITIONS):
        labels = {"group": config.group_id, "topic": config.topic, "partition": str(partition)}
        if (value := REGISTRY.get_sample_value("consumer_lag", labels)) is not None:
            lag[partition] = value
    return lag


async def test_guarantee_9_lag_covers_every_partition_after_a_member_died_without_leaving(
    config: ConsumerConfig,
) -> None:
    await create_topic(config.bootstrap_servers, config.topic, PARTITIONS)
    await produce_to_every_partition(config)
    dead = subprocess.Popen(
        [
            *(sys.executable, "-c", DEAD_MEMBER),
            *(config.bootstrap_servers, config.topic, config.group_id, str(COMMITTED)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert dead.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(dead.stdout.readline), 30)
        assert line.split() == ["committed", str(PARTITIONS)], line
    finally:
        dead.send_signal(signal.SIGKILL)  # no LeaveGroup: the group still counts it a member
        dead.wait(5)

    handler = Stuck()
    runner = ConsumerRunner(
        config,
        decode=OrderCreatedV1.from_json,
        handle=handler,
        dead_letters=DeadLetterPublisher(
            config.bootstrap_servers, config.group_id, enable_idempotence=False
        ),
        invalid=InvalidEvent,
    )
    tasks = [asyncio.create_task(runner.run()), asyncio.create_task(runner.report_lag())]
    expected = dict.fromkeys(range(PARTITIONS), float(PER_PARTITION - COMMITTED))
    try:
        # This member owns at most what the dead one's session lets go of, and is stuck on
        # its first event; the lag of every partition is still exact, from the commits.
        await eventually(
            lambda: _holds(lag_of(config) == expected),
            timeout=20,
            what=f"lag {expected} for every partition",
        )
    finally:
        runner.request_stop()
        handler.release.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)


async def _holds(value: bool) -> bool:
    return value
