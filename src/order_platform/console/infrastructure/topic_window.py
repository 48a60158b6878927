"""The latest orders on the topic, and their events, read by a client of the console's own.

No consumer group: the console commits nothing and disturbs no group; it assigns itself every
partition and starts `kept / partitions` records before each end, so that the recent orders
show at once. Memory is bounded: the newest `kept` orders by record timestamp (trimmed once a
tenth more have come, since partitions are read in no global order), indexed by order id and
by correlation id; the events of as many orders (created, confirmed, shipped, cancelled), the
first publish of each version. The record's timestamp is the published hop: set by the relay's
producer when it sends (CreateTime), just before the broker's acknowledgement.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import UTC, datetime
from uuid import UUID

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from order_platform.building_blocks.kafka.partitions import partitions_of
from order_platform.console.application.ports import SeenEvent, SeenOrder
from order_platform.contracts import InvalidEvent, OrderCreatedV1
from order_platform.contracts.order_events import read_order_event

log = structlog.get_logger(__name__)

CORRELATION_HEADER = "correlation-id"
METADATA_REFRESH_SECONDS = 10.0


class KafkaOrderStream:
    def __init__(self, bootstrap_servers: str, topic: str, *, kept: int = 2000) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._kept = kept
        self._orders: OrderedDict[UUID, SeenOrder] = OrderedDict()
        self._events: OrderedDict[UUID, dict[int, SeenEvent]] = OrderedDict()
        self._by_correlation: dict[str, UUID] = {}
        self._status: str | None = "not connected to Kafka yet"

    @property
    def status(self) -> str | None:
        return self._status

    def recent(self, limit: int) -> list[SeenOrder]:
        newest = sorted(
            self._orders.values(), key=lambda seen: (seen.published_at, seen.created_at)
        )
        return newest[::-1][:limit]

    def find(self, order_or_correlation_id: str) -> SeenOrder | None:
        query = order_or_correlation_id.strip()
        if (order_id := self._by_correlation.get(query)) is not None:
            return self._orders.get(order_id)
        try:
            return self._orders.get(UUID(query))
        except ValueError:
            return None

    def events(self, order_id: UUID) -> list[SeenEvent]:
        return [seen for _, seen in sorted(self._events.get(order_id, {}).items())]

    def remember(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            any_event = read_order_event(record.value or b"")
        except InvalidEvent:
            return  # poison is the consumers' business (and the dead letters' panel)
        published_at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
        self._remember_event(
            any_event.order_id,
            SeenEvent(
                order_id=any_event.order_id,
                event_id=any_event.event_id,
                event_type=any_event.event_type,
                version=any_event.order_version,
                occurred_at=any_event.created_at
                if isinstance(any_event, OrderCreatedV1)
                else any_event.occurred_at,
                published_at=published_at,
            ),
        )
        if not isinstance(any_event, OrderCreatedV1):
            return
        event = any_event
        correlation = next(
            (v.decode(errors="replace") for k, v in record.headers if k == CORRELATION_HEADER),
            None,
        )
        seen = SeenOrder(
            order_id=event.order_id,
            event_id=event.event_id,
            correlation_id=correlation,
            customer_name=event.customer_name,
            total_amount=f"{event.total_amount:.2f}",
            created_at=event.created_at,
            published_at=published_at,
            partition=record.partition,
            offset=record.offset,
        )
        if seen.order_id in self._orders:
            return  # a duplicate publish (at least once): the first one is the published hop
        self._orders[seen.order_id] = seen
        if correlation:
            self._by_correlation[correlation] = seen.order_id
        if len(self._orders) > self._kept + max(self._kept // 10, 1):
            self._trim()

    def _remember_event(self, order_id: UUID, seen: SeenEvent) -> None:
        known = self._events.setdefault(order_id, {})
        known.setdefault(seen.version, seen)  # a duplicate publish: the first is the hop
        self._events.move_to_end(order_id)
        while len(self._events) > self._kept:
            self._events.popitem(last=False)

    def _trim(self) -> None:
        newest = self.recent(self._kept)
        self._orders = OrderedDict((seen.order_id, seen) for seen in reversed(newest))
        self._by_correlation = {
            seen.correlation_id: seen.order_id for seen in newest if seen.correlation_id
        }

    async def run(self) -> None:
        """Read until cancelled; a failure ends the run (the supervisor starts it again)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id="order-platform-console",
        )
        try:
            await asyncio.wait_for(consumer.start(), 10)
            self._status = f"waiting for topic {self._topic}"
            assigned: set[TopicPartition] = set()
            next_metadata = 0.0
            loop = asyncio.get_running_loop()
            while True:
                if loop.time() >= next_metadata:
                    next_metadata = loop.time() + METADATA_REFRESH_SECONDS
                    assigned = await self._assign(consumer, assigned)
                if not assigned:
                    await asyncio.sleep(1)
                    continue
                self._status = None
                batches = await consumer.getmany(timeout_ms=500, max_records=1000)
                for records in batches.values():
                    for record in records:
                        self.remember(record)
        except Exception as error:
            self._status = f"cannot read {self._topic}: {type(error).__name__} {error}".strip()
            raise
        finally:
            await consumer.stop()

    async def _assign(
        self, consumer: AIOKafkaConsumer, assigned: set[TopicPartition]
    ) -> set[TopicPartition]:
        partitions = await partitions_of(consumer, self._topic)
        wanted = {TopicPartition(self._topic, p) for p in partitions}
        if not wanted or wanted == assigned:
            return assigned
        positions = {tp: await consumer.position(tp) for tp in assigned}
        consumer.assign(sorted(wanted, key=lambda tp: tp.partition))
        ends = await consumer.end_offsets(sorted(wanted - assigned, key=lambda tp: tp.partition))
        starts = await consumer.beginning_offsets(list(ends))
        per_partition = max(self._kept // len(wanted), 1)
        for tp, position in positions.items():
            consumer.seek(tp, position)
        for tp, end in ends.items():
            consumer.seek(tp, max(end - per_partition, starts[tp]))
        log.info("console_topic_assigned", topic=self._topic, partitions=len(wanted))
        return wanted
