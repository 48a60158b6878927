"""A Kafka producer started on first use, stopped on failure, rebuilt after losing its broker.

    producer = LazyProducer(lambda: AIOKafkaProducer(...), timeout_seconds=5.0)
    await (await producer.get()).send(topic, value)  # connects on the first call
    await producer.reset()  # it lost its broker: the next `get` builds a fresh one
    await producer.close()  # in the owner's close

Nothing connects before the first `get`, so a service starts while Kafka is away, and a
publisher that never publishes (a dead-letter topic without poison) never connects at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

import structlog
from aiokafka.errors import KafkaError

log = structlog.get_logger(__name__)


class Startable(Protocol):
    """What this needs of an `AIOKafkaProducer` (and what a test's fake provides)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class LazyProducer[P: Startable]:
    def __init__(
        self,
        new_producer: Callable[[], P],
        *,
        timeout_seconds: float,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        self._new_producer = new_producer
        self._timeout = timeout_seconds  # for starting, and for stopping
        self._on_started = on_started
        self._producer: P | None = None

    async def get(self) -> P:
        """The started producer; raises what starting raised (`TimeoutError` past the timeout)."""
        if self._producer is None:
            producer = self._new_producer()
            try:
                await asyncio.wait_for(producer.start(), timeout=self._timeout)
            except BaseException:
                await producer.stop()  # its connections and tasks, even when cancelled
                raise
            self._producer = producer
            if self._on_started is not None:
                self._on_started()
        return self._producer

    async def reset(self) -> None:
        """Stop the producer (within the timeout); the next `get` starts a fresh one."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await asyncio.wait_for(producer.stop(), timeout=self._timeout)
            except (KafkaError, OSError, TimeoutError):
                log.warning("kafka_producer_stop_failed", exc_info=True)

    async def close(self) -> None:
        await self.reset()
