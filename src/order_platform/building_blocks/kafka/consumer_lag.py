"""The consumer group's lag, exported for every partition of its topic, whoever owns it.

`LagReporter.run` is a loop beside the consume loop (`consumer.ConsumerRunner` owns both): it
reads the group's committed offsets (OffsetFetch, which needs no ownership) and each
partition's end offset through a client of its own that never joins the group, so the lag is
reported also while this member owns nothing, or is down. The consume loop tells it what it
fetched and committed, so that the gauge moves between two reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Gauge

from order_platform.building_blocks.kafka.partitions import partitions_of

log = structlog.get_logger(__name__)

LAG = Gauge(
    "consumer_lag",
    "Messages behind, for every partition of the topic: its end offset minus the group's "
    "committed offset, whoever owns the partition (aggregate the members' series with max)",
    ["group", "topic", "partition"],
)
OWNED = Gauge(
    "consumer_partition_owned",
    "1 for each partition of the topic this member of the group is assigned, 0 for the others "
    "(refreshed with the lag): which replica owns which partition",
    ["group", "topic", "partition"],
)


class LagReporter:
    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topic: str,
        group_id: str,
        interval_seconds: float,
        timeout_seconds: float,
        owned: Callable[[], set[TopicPartition]],
        stop_requested_within: Callable[[float], Awaitable[bool]],
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._topic = topic
        self._group_id = group_id
        self._interval_seconds = interval_seconds
        self._timeout_seconds = timeout_seconds
        self._owned = owned
        self._stop_requested_within = stop_requested_within
        # Per partition, the furthest end offset seen in fetches: the embedded broker's
        # ListOffsets can answer short of the real end (see `run`).
        self._ends_seen: dict[TopicPartition, int] = {}

    def note_fetched(
        self,
        batches: Mapping[TopicPartition, Sequence[ConsumerRecord[bytes, bytes]]],
        assigned: set[TopicPartition],
        highwater: Callable[[TopicPartition], int | None],
    ) -> None:
        """Remember how far each fetched partition reaches (its last record, or further)."""
        for tp, records in batches.items():
            end = records[-1].offset + 1
            # `highwater` of a partition that a rebalance just took away is an error.
            if tp in assigned and (known := highwater(tp)) is not None:
                end = max(end, known)
            self._ends_seen[tp] = max(end, self._ends_seen.get(tp, 0))

    def note_committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            self._set_lag(tp, self._ends_seen.get(tp, offset), offset)

    def _set_lag(self, tp: TopicPartition, end: int, committed: int) -> None:
        end = max(end, self._ends_seen.get(tp, 0))
        LAG.labels(self._group_id, tp.topic, str(tp.partition)).set(max(end - committed, 0))

    async def run(self) -> None:
        """Export `consumer_lag` for every partition of the topic until a stop is requested.

        A broker that does not answer is retried at the next interval; only a bug ends this
        loop.
        """
        client: AIOKafkaConsumer | None = None
        try:
            while True:
                try:
                    if client is None:
                        client = await self._client()
                    await asyncio.wait_for(self._refresh(client), self._timeout_seconds)
                except (KafkaError, OSError, TimeoutError) as error:
                    log.warning("consumer_lag_unavailable", error=repr(error))
                    if client is not None:
                        await client.stop()
                        client = None
                if await self._stop_requested_within(self._interval_seconds):
                    return
        finally:
            if client is not None:
                await client.stop()

    async def _client(self) -> AIOKafkaConsumer:
        timeout_ms = int(self._timeout_seconds * 1000)
        client = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap_servers,
            group_id=self._group_id,  # for OffsetFetch only: it subscribes to nothing
            enable_auto_commit=False,
            request_timeout_ms=timeout_ms,
            client_id=f"{self._group_id}-lag",
        )
        try:
            await asyncio.wait_for(client.start(), self._timeout_seconds)
        except BaseException:
            await client.stop()
            raise
        return client

    async def _refresh(self, client: AIOKafkaConsumer) -> None:
        topic = self._topic
        partitions = await partitions_of(client, topic)
        if not partitions:
            return  # the topic does not exist yet
        tps = [TopicPartition(topic, partition) for partition in partitions]
        ends = await client.end_offsets(tps)
        committed = dict(zip(tps, [await client.committed(tp) for tp in tps], strict=True))
        never = [tp for tp, offset in committed.items() if offset is None]
        starts = await client.beginning_offsets(never) if never else {}
        owned = self._owned()
        for tp in tps:
            offset = committed[tp]
            self._set_lag(tp, ends[tp], starts[tp] if offset is None else offset)
            OWNED.labels(self._group_id, tp.topic, str(tp.partition)).set(tp in owned)
