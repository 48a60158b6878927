"""Dead-letter publishing: a message that cannot be processed leaves the partition, with why."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer, ConsumerRecord

from order_platform.contracts import dead_letter_topic

MAX_ERROR_HEADER_BYTES = 2000


def dead_letter_headers(
    record: ConsumerRecord[bytes, bytes], *, error: str, consumer_group: str
) -> list[tuple[str, bytes]]:
    """The original headers plus where the message came from and what was wrong with it."""
    return [
        *((name, value) for name, value in record.headers),
        ("dlq-error", error.encode()[:MAX_ERROR_HEADER_BYTES]),
        ("dlq-original-topic", record.topic.encode()),
        ("dlq-original-partition", str(record.partition).encode()),
        ("dlq-original-offset", str(record.offset).encode()),
        ("dlq-consumer-group", consumer_group.encode()),
    ]


class DeadLetterPublisher:
    def __init__(
        self,
        bootstrap_servers: str,
        consumer_group: str,
        *,
        enable_idempotence: bool,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._consumer_group = consumer_group
        self._enable_idempotence = enable_idempotence
        self._timeout = timeout_seconds
        self._producer: AIOKafkaProducer | None = None  # created on the first poison message

    async def publish(self, record: ConsumerRecord[bytes, bytes], error: str) -> None:
        """Returns once the broker acknowledged; raises otherwise (the caller retries)."""
        producer = await self._started_producer()
        delivery = await producer.send(
            dead_letter_topic(record.topic, self._consumer_group),
            value=record.value,
            key=record.key,
            headers=dead_letter_headers(record, error=error, consumer_group=self._consumer_group),
        )
        await asyncio.wait_for(delivery, self._timeout)

    async def _started_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._bootstrap_servers,
                acks="all",
                enable_idempotence=self._enable_idempotence,
                request_timeout_ms=int(self._timeout * 1000),
                client_id=f"{self._consumer_group}-dead-letters",
            )
            try:
                await asyncio.wait_for(producer.start(), self._timeout)
            except BaseException:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
