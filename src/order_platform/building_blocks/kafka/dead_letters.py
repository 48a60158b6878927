"""Dead-letter publishing: a message that cannot be processed leaves the partition, with why.

Bounded in time, so that poison never blocks a partition: the message is copied to the
dead-letter topic in up to `attempts` tries of `timeout_seconds` each. A copy that is too
large (the dead-letter headers push it over the producer's `max_request_size`) or that the
broker keeps refusing is replaced by a dead letter *by reference*: no value, the original
coordinates, the error, a preview of the value and `dlq-value-omitted: too-large|unavailable`.
If even that cannot be published in one more try, one ERROR line (`dead_letter_unpublished`)
with the coordinates is all that is left, and the consumer moves on.

A message from the group's redrive topic (`order-platform dlq replay`) that fails again goes
to the DLQ of the topic it first came from, with its history: the first original's
coordinates (`dlq-original-*`, carried by the redriven message), `dlq-redrive-count` and
`dlq-previous-errors` (a JSON list, oldest first). A new dead letter is all that happens: only
an operator's replay sends it back again, so a message that keeps failing never loops.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from prometheus_client import Counter

from order_platform.building_blocks.kafka.producer import LazyProducer
from order_platform.building_blocks.runtime.backoff import Backoff
from order_platform.contracts import dead_letter_headers as dlq
from order_platform.contracts import dead_letter_topic, redrive_topic

log = structlog.get_logger(__name__)

MAX_ERROR_HEADER_BYTES = 2000
PREVIEW_BYTES = 1024
MAX_REFERENCE_KEY_BYTES = 256

BY_REFERENCE = Counter(
    "dead_letters_by_reference_total",
    "Dead letters published by reference (coordinates and a preview, no value), by why the "
    "value could not be copied: too-large or unavailable",
    ["group", "reason"],
)
UNPUBLISHED = Counter(
    "dead_letters_unpublished_total",
    "Poison messages passed over with only a log line: not even a dead letter by reference "
    "could be published in time",
    ["group", "reason"],
)


class DeadLetterOutcome(StrEnum):
    COPIED = "copied"
    BY_REFERENCE = "by-reference"
    UNPUBLISHED = "unpublished"


def dead_letter_headers(
    record: ConsumerRecord[bytes, bytes], *, error: str, consumer_group: str
) -> list[tuple[str, bytes]]:
    """The original headers plus where the message came from and what was wrong with it."""
    redriven = original_topic_of(record.topic, consumer_group) is not None
    return [
        *(
            (name, value)
            for name, value in record.headers
            # A redriven message's own dead-letter headers are replaced by fresh ones.
            if not (redriven and name.startswith(dlq.PREFIX))
        ),
        *_origin(record, error, consumer_group),
    ]


def reference_headers(
    record: ConsumerRecord[bytes, bytes], *, error: str, consumer_group: str, reason: str
) -> list[tuple[str, bytes]]:
    """Where the original is and what was wrong with it, instead of the original itself."""
    value = record.value or b""
    return [
        *_origin(record, error, consumer_group),
        (dlq.VALUE_OMITTED, reason.encode()),
        (dlq.VALUE_SIZE, str(len(value)).encode()),
        (dlq.VALUE_PREVIEW, value[:PREVIEW_BYTES]),
    ]


def original_topic_of(topic: str, consumer_group: str) -> str | None:
    """The topic whose dead letters `topic` redrives to this group; None for any other topic."""
    suffix = redrive_topic("", consumer_group)
    return topic.removesuffix(suffix) if topic.endswith(suffix) and topic != suffix else None


def _origin(
    record: ConsumerRecord[bytes, bytes], error: str, consumer_group: str
) -> list[tuple[str, bytes]]:
    where = dlq.original_headers(record.topic, record.partition, record.offset)
    history: dlq.Headers = []
    if original_topic_of(record.topic, consumer_group) is not None:
        carried = dict(record.headers)
        if all(name in carried for name in dlq.ORIGINAL):
            # The first original, not the copy on the redrive topic.
            where = [(name, carried[name]) for name in dlq.ORIGINAL]
        history = [(name, carried[name]) for name in dlq.HISTORY if name in carried]
    return [
        (dlq.ERROR, error.encode()[:MAX_ERROR_HEADER_BYTES]),
        *where,
        (dlq.CONSUMER_GROUP, consumer_group.encode()),
        *history,
    ]


class DeadLetterPublisher:
    def __init__(
        self,
        bootstrap_servers: str,
        consumer_group: str,
        *,
        enable_idempotence: bool,
        timeout_seconds: float = 5.0,
        attempts: int = 3,
        backoff_seconds: float = 0.2,
    ) -> None:
        self._consumer_group = consumer_group
        self._timeout = timeout_seconds
        self._attempts = attempts
        # No jitter: the pauses add up to a known bound (`bound_seconds`).
        self._backoff = Backoff(backoff_seconds, jitter="none")
        # Connected on the first poison message; one try of `_send` bounds its start too.
        self._producer = LazyProducer(
            lambda: AIOKafkaProducer(
                bootstrap_servers=bootstrap_servers,
                acks="all",
                enable_idempotence=enable_idempotence,
                request_timeout_ms=int(timeout_seconds * 1000),
                client_id=f"{consumer_group}-dead-letters",
            ),
            timeout_seconds=timeout_seconds,
        )

    @property
    def bound_seconds(self) -> float:
        """The longest one message can hold its partition here (the tries and their pauses)."""
        pauses = sum(self._backoff.ceiling(failures) for failures in range(1, self._attempts))
        return (self._attempts + 1) * self._timeout + pauses

    async def publish(self, record: ConsumerRecord[bytes, bytes], error: str) -> DeadLetterOutcome:
        """Dead-letter `record` within `bound_seconds`; never raises for broker trouble."""
        original = original_topic_of(record.topic, self._consumer_group)
        topic = dead_letter_topic(original or record.topic, self._consumer_group)
        headers = dead_letter_headers(record, error=error, consumer_group=self._consumer_group)
        reason = "unavailable"
        for attempt in range(1, self._attempts + 1):
            try:
                await self._send(topic, record.value, record.key, headers)
            except (MessageSizeTooLargeError, RecordTooLargeError) as too_large:
                log.warning("dead_letter_too_large", error=repr(too_large), **_where(record))
                reason = "too-large"
                break
            except (KafkaError, OSError, TimeoutError) as publish_error:
                log.warning(
                    "dead_letter_publish_failed",
                    error=repr(publish_error),
                    attempt=attempt,
                    **_where(record),
                )
                if attempt < self._attempts:
                    await asyncio.sleep(self._backoff.delay(attempt))
            else:
                return DeadLetterOutcome.COPIED
        key = (
            record.key if record.key is None or len(record.key) <= MAX_REFERENCE_KEY_BYTES else None
        )
        reference = reference_headers(
            record, error=error, consumer_group=self._consumer_group, reason=reason
        )
        try:
            await self._send(topic, None, key, reference)
        except (KafkaError, OSError, TimeoutError) as publish_error:
            log.error(
                "dead_letter_unpublished",
                error=error,
                publish_error=repr(publish_error),
                reason=reason,
                group=self._consumer_group,
                **_where(record),
            )
            UNPUBLISHED.labels(self._consumer_group, reason).inc()
            return DeadLetterOutcome.UNPUBLISHED
        BY_REFERENCE.labels(self._consumer_group, reason).inc()
        return DeadLetterOutcome.BY_REFERENCE

    async def _send(
        self, topic: str, value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        """One try, bounded as a whole: connecting, waiting for metadata, the acknowledgement."""

        async def send() -> None:
            producer = await self._producer.get()
            delivery = await producer.send(topic, value=value, key=key, headers=headers)
            await delivery

        await asyncio.wait_for(send(), self._timeout)

    async def close(self) -> None:
        await self._producer.close()


def _where(record: ConsumerRecord[bytes, bytes]) -> dict[str, object]:
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset}
