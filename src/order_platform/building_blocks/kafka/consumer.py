"""The Kafka consumer loop every consuming service shares.

Batches from `getmany`, one call of the service's handler per batch, offsets committed only
after the handler returned (its effects are durable). Poison messages go to the dead-letter
topic at once. Whatever is `Unavailable` (`contracts.errors`: a store that is away, an event
another member is busy with) is waited for with capped backoff, without committing past it,
whichever adapter raised it; any other failure is retried a bounded number of times, then the
batch is split so that only the failing event is dead-lettered and the rest proceed.

A rebalance mid-batch is expected (every rolling deploy): the batch is finished, only the
partitions still assigned are committed, the others are redelivered to their new owner (the
effects are idempotent). Beside the loop, the runner owns its lag reporter (`consumer_lag`).

Every group also reads its own redrive topic (`<topic>.<group>.redrive`), where
`order-platform dlq replay` sends that group's dead letters back: the same decoding, handling
and dead-lettering, and no other group sees them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, TypedDict

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind
from prometheus_client import Counter, Histogram

from order_platform.building_blocks.kafka.consumer_lag import LagReporter
from order_platform.building_blocks.kafka.dead_letters import DeadLetterPublisher
from order_platform.building_blocks.runtime.backoff import Backoff
from order_platform.building_blocks.runtime.correlation import correlation_id_from
from order_platform.building_blocks.runtime.tracing import (
    context_from_headers,
    trace_id_of,
    tracer,
    tracing_enabled,
)
from order_platform.contracts import redrive_topic
from order_platform.contracts.errors import Unavailable

log = structlog.get_logger(__name__)

EVENTS = Counter(
    "consumer_events_total",
    "Events a consumer group finished with, by outcome: applied, dead_lettered, retried",
    ["group", "outcome"],
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


UNJOINED_CLOSE_SECONDS = 2.0


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
    # How long the broker may hold an empty fetch. Kafka answers a held fetch as soon as data
    # arrives, but the embedded broker (Tansu) does not: there an idle group sees an event up
    # to about half this late (measured: 20 ms -> at most 26 ms from send to handler, 100 ->
    # 66, 500 -> 250). 100 keeps that small while an idle member asks 10 times a second, not 50.
    fetch_max_wait_ms: int = 100
    # A short batch waits this long for more before it is handled: a batch's fixed costs
    # (the handler's writes, the commit) are then shared by more events, for a few ms of
    # freshness. Under load batches fill up without waiting; an idle group pays it once.
    batch_linger_ms: int = 10
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_attempts: int = 5
    backoff_base_seconds: float = 0.1
    backoff_max_seconds: float = 5.0
    # `report_lag` reads the group's committed offsets and the end offsets this often.
    lag_interval_seconds: float = 5.0
    lag_timeout_seconds: float = 5.0

    @property
    def topics(self) -> tuple[str, str]:
        """The topic and this group's redrive topic (created on subscription where the broker
        creates topics on first use; else it has to be created with the DLQ topics)."""
        return self.topic, redrive_topic(self.topic, self.group_id)


Batches = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


class GroupMember(Protocol):
    """What the loop needs of a member of a consumer group (`AIOKafkaConsumer`'s calls; a
    simulation gives its own)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def getmany(self, *, timeout_ms: int, max_records: int) -> Batches: ...

    def assignment(self) -> set[TopicPartition]: ...

    def highwater(self, partition: TopicPartition) -> int | None: ...

    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...


def kafka_group_member(config: ConsumerConfig) -> GroupMember:
    """A member of `config`'s group on a real broker, committing only when told to."""
    consumer: GroupMember = AIOKafkaConsumer(
        *config.topics,
        bootstrap_servers=config.bootstrap_servers,
        group_id=config.group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=config.fetch_max_wait_ms,
        max_poll_records=config.max_batch,
        session_timeout_ms=config.session_timeout_ms,
        heartbeat_interval_ms=config.heartbeat_interval_ms,
        client_id=config.group_id,
    )
    return consumer


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
        new_member: Callable[[ConsumerConfig], GroupMember] = kafka_group_member,
    ) -> None:
        self._new_member = new_member
        self._config = config
        self._decode = decode
        self._handle = handle
        self._dead_letters = dead_letters
        self._invalid = invalid
        self._occurred_at = occurred_at
        # The config's base is the ceiling before any failure: after the first one it doubled.
        # Equal jitter keeps replicas from retrying in lockstep.
        self._backoff = Backoff(
            2 * config.backoff_base_seconds, config.backoff_max_seconds, jitter="equal"
        )
        self._batch_seconds = BATCH_SECONDS.labels(config.group_id)
        self._end_to_end = END_TO_END_SECONDS.labels(config.group_id)
        self._stop = asyncio.Event()
        self._consumer: GroupMember | None = None
        self._lag = LagReporter(
            bootstrap_servers=config.bootstrap_servers,
            topic=config.topic,
            group_id=config.group_id,
            interval_seconds=config.lag_interval_seconds,
            timeout_seconds=config.lag_timeout_seconds,
            owned=self._owned,
            stop_requested_within=self._stop_requested_within,
        )

    def request_stop(self) -> None:
        """Stop taking batches (the batch in flight is finished and committed) and stop
        reporting lag."""
        self._stop.set()

    @property
    def consumer(self) -> GroupMember | None:
        return self._consumer

    def _owned(self) -> set[TopicPartition]:
        return self._consumer.assignment() if self._consumer is not None else set()

    async def report_lag(self) -> None:
        """Export the group's lag (`consumer_lag.LagReporter`) until `request_stop`."""
        await self._lag.run()

    def is_consuming(self) -> bool:
        """Connected to the group and in its loop (for readiness)."""
        return self._consumer is not None

    async def run(self) -> None:
        consumer = await self._connect()
        if consumer is None:
            return
        fetch_failures = 0
        try:
            while not self._stop.is_set():
                try:
                    batches = await consumer.getmany(
                        timeout_ms=200, max_records=self._config.max_batch
                    )
                except KafkaError as error:
                    # Mostly a partition that moved in a rebalance; a fresh fetch goes on. One
                    # that keeps failing ends the run, so that its supervisor starts it afresh.
                    fetch_failures += 1
                    if fetch_failures >= self._config.max_attempts:
                        raise
                    log.warning("consumer_fetch_failed", error=repr(error), attempt=fetch_failures)
                    await self._stop_requested_within(self._backoff.delay(fetch_failures))
                    continue
                fetch_failures = 0
                if not batches:
                    continue
                batches = await self._topped_up(consumer, batches)
                self._lag.note_fetched(batches, consumer.assignment(), consumer.highwater)
                try:
                    await self._process([r for records in batches.values() for r in records])
                except Stopping:
                    return
                await self._commit(consumer, batches)
        finally:
            self._consumer = None
            await consumer.stop()  # leaves the group, so the partitions move on at once

    async def _topped_up(
        self,
        consumer: GroupMember,
        batches: Batches,
    ) -> Batches:
        """The batch with what arrived within the linger, if it was short (the fetcher keeps
        prefetching meanwhile, so the second call only takes what it already holds)."""
        room = self._config.max_batch - sum(len(records) for records in batches.values())
        if room <= 0 or self._config.batch_linger_ms <= 0:
            return batches
        if await self._stop_requested_within(self._config.batch_linger_ms / 1000):
            return batches
        try:
            more = await consumer.getmany(timeout_ms=0, max_records=room)
        except KafkaError:
            return batches  # the next fetch deals with it
        for partition, records in more.items():
            batches.setdefault(partition, []).extend(records)
        return batches

    async def _connect(self) -> GroupMember | None:
        failures = 0
        while not self._stop.is_set():
            consumer = self._new_member(self._config)
            try:
                # Joining can wait long (e.g. for a dead member's session to run out): it
                # must not hold up a shutdown.
                started = await self._unless_stopped(consumer.start())
            except (KafkaError, OSError) as error:
                await consumer.stop()
                failures += 1
                log.warning("consumer_cannot_connect", error=str(error))
                if await self._stop_requested_within(self._backoff.delay(failures)):
                    return None
                continue
            if not started:
                # It never joined: nothing to commit. Leaving waits for the pending JoinGroup
                # answer, which the broker may hold for a whole session timeout.
                try:
                    await asyncio.wait_for(consumer.stop(), UNJOINED_CLOSE_SECONDS)
                except TimeoutError:
                    log.warning("consumer_close_timed_out", group=self._config.group_id)
                return None
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

    async def _handle_with_retries(self, deliveries: Sequence[Delivery[E]]) -> None:
        failures = 0
        while True:
            try:
                await self._handle(deliveries)
            except Unavailable as error:
                # Not the events' fault: wait as long as it takes, commit nothing meanwhile.
                failures += 1
                log.warning(
                    "consumer_dependency_unavailable", error=str(error), kind=type(error).__name__
                )
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
            await self._sleep(self._backoff.delay(failures))

    async def _isolate(self, deliveries: Sequence[Delivery[E]], error: Exception) -> None:
        """Retry one event at a time, so that only the one that keeps failing is dead-lettered."""
        if len(deliveries) == 1:
            await self._dead_letter(deliveries[0].record, f"handler failed: {error!r}")
            return
        for delivery in deliveries:
            await self._handle_with_retries([delivery])

    async def _dead_letter(self, record: ConsumerRecord[bytes, bytes], error: str) -> None:
        # Bounded: a copy too large or a dead-letter topic that stays away ends in a dead
        # letter by reference, or a log line, and the partition moves on either way.
        outcome = await self._dead_letters.publish(record, error)
        log.warning(
            "event_dead_lettered",
            error=error,
            outcome=str(outcome),
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        EVENTS.labels(self._config.group_id, "dead_lettered").inc()

    async def _commit(self, consumer: GroupMember, batches: Batches) -> None:
        # A rebalance during the batch may have moved partitions to another member: it
        # redelivers from their last commit, and the handlers' idempotence makes that harmless.
        assigned = consumer.assignment()
        offsets = {tp: records[-1].offset + 1 for tp, records in batches.items() if tp in assigned}
        if revoked := sorted(str(tp.partition) for tp in batches.keys() - offsets.keys()):
            log.info("consumer_partitions_moved_mid_batch", partitions=",".join(revoked))
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except KafkaError as error:
            # CommitFailedError (the generation changed), IllegalStateError (unassigned since),
            # or the coordinator moving: the same redelivery covers all of them.
            log.warning("consumer_commit_failed", error=repr(error))
            return
        self._lag.note_committed(offsets)

    async def _sleep(self, seconds: float) -> None:
        """Back off, but wake at once for shutdown: an unfinished batch is then left uncommitted."""
        if await self._stop_requested_within(seconds):
            raise Stopping

    async def _unless_stopped(self, work: Awaitable[None]) -> bool:
        """Await `work` unless a stop is requested first (then cancel it); True if it ended."""
        working = asyncio.ensure_future(work)
        stopping = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({working, stopping}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            working.cancel()
            raise
        finally:
            stopping.cancel()
        if not working.done():
            working.cancel()
            await asyncio.wait({working})
            return False
        working.result()  # its error, if any
        return True

    async def _stop_requested_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            return False
        return True
