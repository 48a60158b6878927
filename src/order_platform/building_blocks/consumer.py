"""The Kafka consumer loop every consuming service shares.

Batches from `getmany`, one call of the service's handler per batch, offsets committed only
after the handler returned (its effects are durable). Poison messages go to the dead-letter
topic at once. A dependency that is away (`DependencyUnavailable`) is waited for with capped
backoff, without committing past it; any other failure is retried a bounded number of times,
then the batch is split so that only the failing event is dead-lettered and the rest proceed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypedDict

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind
from prometheus_client import Counter, Gauge, Histogram

from order_platform.building_blocks.correlation import correlation_id_from
from order_platform.building_blocks.dead_letters import DeadLetterPublisher
from order_platform.building_blocks.tracing import (
    context_from_headers,
    trace_id_of,
    tracer,
    tracing_enabled,
)

log = structlog.get_logger(__name__)

EVENTS = Counter(
    "consumer_events_total",
    "Events a consumer group finished with, by outcome: applied, dead_lettered, retried",
    ["group", "outcome"],
)
LAG = Gauge(
    "consumer_lag",
    "Messages behind: the partition's high watermark minus the group's committed offset",
    ["group", "topic", "partition"],
)
BATCH_SECONDS = Histogram(
    "consumer_batch_duration_seconds",
    "Time to apply one batch durably (handler, retries and dead letters included)",
    ["group"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
END_TO_END_SECONDS = Histogram(
    "consumer_end_to_end_latency_seconds",
    "From the event's occurredAt to its effect being durable in this group",
    ["group"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)


class DependencyUnavailable(Exception):
    """A store the handler needs is away: wait for it, never dead-letter because of it."""


class Stopping(Exception):
    """Shutdown was requested while a batch could not be finished; it is not committed."""


@dataclass(frozen=True, slots=True)
class Delivery[E]:
    event: E
    record: ConsumerRecord[bytes, bytes]

    @property
    def trace_context(self) -> Context:
        """The producer's trace: parent of whatever is done for this event."""
        return context_from_headers(self.record.headers)

    @property
    def log_context(self) -> dict[str, str]:
        """Correlation and trace ids for the log lines of this event."""
        fields = {}
        if (correlation_id := correlation_id_from(self.record.headers)) is not None:
            fields["correlation_id"] = correlation_id
        if (trace_id := trace_id_of(self.trace_context)) is not None:
            fields["trace_id"] = trace_id
        return fields


class BatchHandler[E](Protocol):
    async def __call__(self, deliveries: Sequence[Delivery[E]]) -> None:
        """Apply the effects of these events durably and idempotently (redelivery happens)."""
        ...


class RetryOptions(TypedDict, total=False):
    max_attempts: int
    backoff_base_seconds: float
    backoff_max_seconds: float


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    bootstrap_servers: str
    topic: str
    group_id: str
    max_batch: int = 500
    # Short fetch waits keep the read side fresh; the broker answers at once when data is there.
    fetch_max_wait_ms: int = 20
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_attempts: int = 5
    backoff_base_seconds: float = 0.1
    backoff_max_seconds: float = 5.0


class ConsumerRunner[E]:
    def __init__(
        self,
        config: ConsumerConfig,
        *,
        decode: Callable[[bytes], E],
        handle: BatchHandler[E],
        dead_letters: DeadLetterPublisher,
        invalid: type[Exception] = ValueError,
        occurred_at: Callable[[E], datetime] | None = None,
    ) -> None:
        self._config = config
        self._decode = decode
        self._handle = handle
        self._dead_letters = dead_letters
        self._invalid = invalid
        self._occurred_at = occurred_at
        self._batch_seconds = BATCH_SECONDS.labels(config.group_id)
        self._end_to_end = END_TO_END_SECONDS.labels(config.group_id)
        self._stop = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None

    def request_stop(self) -> None:
        """Stop taking batches; the batch in flight is finished and committed."""
        self._stop.set()

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        return self._consumer

    async def run(self) -> None:
        consumer = await self._connect()
        if consumer is None:
            return
        try:
            while not self._stop.is_set():
                batches = await consumer.getmany(timeout_ms=200, max_records=self._config.max_batch)
                if not batches:
                    continue
                self._report_lag(consumer, batches, committed=False)
                try:
                    await self._process([r for records in batches.values() for r in records])
                except Stopping:
                    return
                await self._commit(consumer, batches)
                self._report_lag(consumer, batches, committed=True)
        finally:
            self._consumer = None
            await consumer.stop()  # leaves the group, so the partitions move on at once

    async def _connect(self) -> AIOKafkaConsumer | None:
        failures = 0
        while not self._stop.is_set():
            consumer = AIOKafkaConsumer(
                self._config.topic,
                bootstrap_servers=self._config.bootstrap_servers,
                group_id=self._config.group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=self._config.fetch_max_wait_ms,
                max_poll_records=self._config.max_batch,
                session_timeout_ms=self._config.session_timeout_ms,
                heartbeat_interval_ms=self._config.heartbeat_interval_ms,
                client_id=self._config.group_id,
            )
            try:
                await consumer.start()
            except (KafkaError, OSError) as error:
                await consumer.stop()
                failures += 1
                log.warning("consumer_cannot_connect", error=str(error))
                if await self._stop_requested_within(self._backoff(failures)):
                    return None
                continue
            self._consumer = consumer
            log.info("consumer_started", group=self._config.group_id, topic=self._config.topic)
            return consumer
        return None

    async def _process(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        valid: list[Delivery[E]] = []
        for record in records:
            try:
                valid.append(Delivery(self._decode(record.value or b""), record))
            except self._invalid as error:
                await self._dead_letter(record, f"invalid event: {error}")
        if not valid:
            return
        started = time.perf_counter()
        spans = self._processing_spans(valid)
        try:
            await self._handle_with_retries(valid)
        finally:
            for span in spans:
                span.end()
        self._batch_seconds.observe(time.perf_counter() - started)
        if self._occurred_at is not None:
            now = datetime.now(UTC)
            for delivery in valid:
                self._end_to_end.observe((now - self._occurred_at(delivery.event)).total_seconds())

    def _processing_spans(self, deliveries: Sequence[Delivery[E]]) -> list[Span]:
        """One consumer span per event, a child of its producer's span, over its processing."""
        if not tracing_enabled():
            return []
        return [
            tracer.start_span(
                f"{delivery.record.topic} process",
                context=delivery.trace_context,
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.consumer.group.name": self._config.group_id,
                    "messaging.destination.partition.id": str(delivery.record.partition),
                    "messaging.kafka.offset": delivery.record.offset,
                },
            )
            for delivery in deliveries
        ]

    def _report_lag(
        self,
        consumer: AIOKafkaConsumer,
        batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
        *,
        committed: bool,
    ) -> None:
        for tp, records in batches.items():
            highwater = consumer.highwater(tp)
            if highwater is None:
                continue
            done = records[-1].offset + 1 if committed else records[0].offset
            # The embedded broker can report a high watermark short of the real end.
            lag = max(highwater - done, 0)
            LAG.labels(self._config.group_id, tp.topic, str(tp.partition)).set(lag)

    async def _handle_with_retries(self, deliveries: Sequence[Delivery[E]]) -> None:
        failures = 0
        while True:
            try:
                await self._handle(deliveries)
            except DependencyUnavailable as error:
                # Not the events' fault: wait as long as it takes, commit nothing meanwhile.
                failures += 1
                log.warning("consumer_dependency_unavailable", error=str(error))
                EVENTS.labels(self._config.group_id, "retried").inc(len(deliveries))
            except Exception as error:
                failures += 1
                EVENTS.labels(self._config.group_id, "retried").inc(len(deliveries))
                if failures >= self._config.max_attempts:
                    await self._isolate(deliveries, error)
                    return
                log.warning("consumer_handler_failed", error=repr(error), attempt=failures)
            else:
                EVENTS.labels(self._config.group_id, "applied").inc(len(deliveries))
                return
            await self._sleep(self._backoff(failures))

    async def _isolate(self, deliveries: Sequence[Delivery[E]], error: Exception) -> None:
        """Retry one event at a time, so that only the one that keeps failing is dead-lettered."""
        if len(deliveries) == 1:
            await self._dead_letter(deliveries[0].record, f"handler failed: {error!r}")
            return
        for delivery in deliveries:
            await self._handle_with_retries([delivery])

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], error: str) -> None:
        failures = 0
        while True:
            try:
                await self._dead_letters.publish(record, error)
            except (KafkaError, OSError, TimeoutError) as publish_error:
                failures += 1
                log.warning("dead_letter_publish_failed", error=str(publish_error))
                await self._sleep(self._backoff(failures))
                continue
            log.warning(
                "event_dead_lettered",
                error=error,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            )
            EVENTS.labels(self._config.group_id, "dead_lettered").inc()
            return

    async def _commit(
        self,
        consumer: AIOKafkaConsumer,
        batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
    ) -> None:
        offsets = {tp: records[-1].offset + 1 for tp, records in batches.items()}
        try:
            await consumer.commit(offsets)
        except CommitFailedError as error:
            # The partitions moved to another member during a rebalance; it redelivers from the
            # last commit, and the handlers' idempotence makes that harmless.
            log.warning("consumer_commit_failed", error=str(error))

    async def _sleep(self, seconds: float) -> None:
        """Back off, but wake at once for shutdown: an unfinished batch is then left uncommitted."""
        if await self._stop_requested_within(seconds):
            raise Stopping

    async def _stop_requested_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            return False
        return True

    def _backoff(self, failures: int) -> float:
        cap = min(self._config.backoff_max_seconds, self._config.backoff_base_seconds * 2**failures)
        return random.uniform(cap / 2, cap)  # jitter keeps replicas from retrying in lockstep
