"""Has a consumer group committed everything in a topic? Idle, in facts rather than in sleeps."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.support.kafka_topic import read_topic


async def end_offsets(bootstrap_servers: str, topic: str) -> dict[TopicPartition, int]:
    """The offset after the last message of each non-empty partition, from the messages.

    Not from ListOffsets: the embedded broker (Tansu) answers it with an offset inside the
    last record batch when that batch holds several records, i.e. short of the real end.
    """
    ends: dict[TopicPartition, int] = {}
    for record in await read_topic(bootstrap_servers, topic):
        tp = TopicPartition(topic, record.partition)
        ends[tp] = max(ends.get(tp, 0), record.offset + 1)
    return ends


async def uncommitted(bootstrap_servers: str, topic: str, groups: Iterable[str]) -> dict[str, int]:
    """Messages in `topic` that each group has not committed yet (0 everywhere: caught up).

    `committed()` is an OffsetFetch without joining the group, so asking does not trigger a
    rebalance of the consumers being watched.
    """
    ends = await end_offsets(bootstrap_servers, topic)
    lag: dict[str, int] = {}
    for group in groups:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            behind = 0
            for tp, end in ends.items():
                committed = await consumer.committed(tp)
                behind += max(0, end - (committed or 0))
            lag[group] = behind
        finally:
            await consumer.stop()
    return lag
