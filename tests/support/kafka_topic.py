"""Read a whole topic, up to its current end, to count exactly what was published."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from order_platform.building_blocks.kafka.partitions import partitions_of


async def read_topic(
    bootstrap_servers: str, topic: str, *, timeout: float = 10.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every message now in `topic` (all partitions, from the beginning), in no group."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=int(timeout * 1000),
    )
    await consumer.start()
    try:
        partitions = await partitions_of(consumer, topic)
        assigned = [TopicPartition(topic, partition) for partition in partitions]
        if not assigned:
            return []
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        end = await consumer.end_offsets(assigned)
        records: list[ConsumerRecord[bytes, bytes]] = []
        remaining = {tp for tp in assigned if end[tp] > 0}
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=int(timeout * 1000))
            if not batches:
                raise AssertionError(f"topic {topic} stopped short of its end offsets {end}")
            for tp, batch in batches.items():
                records.extend(batch)
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        # End offsets can lag behind the log on the embedded broker right after a restart;
        # whatever is stored beyond them comes with the next fetch.
        while batches := await consumer.getmany(*assigned, timeout_ms=300):
            for batch in batches.values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()
