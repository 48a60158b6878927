"""An `OrderCreated` consumer loop running in the background of a test, its configuration
for a test (fast group liveness, short backoff) and a handler that records what it applied."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from order_platform.building_blocks.kafka.consumer import (
    BatchHandler,
    ConsumerConfig,
    ConsumerRunner,
    Delivery,
)
from order_platform.building_blocks.kafka.dead_letters import DeadLetterPublisher
from order_platform.contracts import InvalidEvent, OrderCreatedV1


def fast_config(bootstrap_servers: str, name: str, **overrides: Any) -> ConsumerConfig:
    """Topic `name`, group `name-group`; a group that notices members within seconds."""
    settings: dict[str, Any] = {
        "session_timeout_ms": 2000,
        "heartbeat_interval_ms": 300,
        "backoff_base_seconds": 0.01,
        "backoff_max_seconds": 0.05,
    } | overrides
    return ConsumerConfig(
        bootstrap_servers=bootstrap_servers, topic=name, group_id=f"{name}-group", **settings
    )


class Recorder:
    """A handler that applies every batch: the order ids it saw."""

    def __init__(self) -> None:
        self.applied: set[UUID] = set()

    async def __call__(self, deliveries: Sequence[Delivery[OrderCreatedV1]]) -> None:
        self.applied.update(d.event.order_id for d in deliveries)


@asynccontextmanager
async def consuming(
    config: ConsumerConfig,
    handler: BatchHandler[OrderCreatedV1],
    dead_letters: DeadLetterPublisher | None = None,
) -> AsyncIterator[ConsumerRunner[OrderCreatedV1]]:
    """The runner consumes until the block ends, then stops (finishing its batch)."""
    dead_letters = dead_letters or DeadLetterPublisher(
        config.bootstrap_servers, config.group_id, enable_idempotence=False
    )
    runner = ConsumerRunner(
        config,
        decode=OrderCreatedV1.from_json,
        handle=handler,
        dead_letters=dead_letters,
        invalid=InvalidEvent,
    )
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        runner.request_stop()
        await asyncio.wait_for(task, timeout=10)
        await dead_letters.close()
