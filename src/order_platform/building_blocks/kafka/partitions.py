"""A topic's partitions as a client that joined no group sees them, without creating the topic."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer


async def partitions_of(client: AIOKafkaConsumer, topic: str) -> list[int]:
    """`topic`'s partitions, sorted; none while the topic does not exist.

    A client that subscribes to nothing tracks no topic, so it may not know the topic yet: it
    then asks for every topic's metadata (aiokafka has no public call for it), which, unlike a
    request naming the topic, creates none where the broker creates topics on first use.
    """
    partitions = client.partitions_for_topic(topic)
    if not partitions:
        await client._client.force_metadata_update()
        partitions = client.partitions_for_topic(topic)
    return sorted(partitions or ())
