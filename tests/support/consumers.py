"""An `OrderCreated` consumer loop running in the background of a test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from order_platform.building_blocks.consumer import BatchHandler, ConsumerConfig, ConsumerRunner
from order_platform.building_blocks.dead_letters import DeadLetterPublisher
from order_platform.contracts import InvalidEvent, OrderCreatedV1


@asynccontextmanager
async def consuming(
    config: ConsumerConfig, handler: BatchHandler[OrderCreatedV1]
) -> AsyncIterator[ConsumerRunner[OrderCreatedV1]]:
    """The runner consumes until the block ends, then stops (finishing its batch)."""
    dead_letters = DeadLetterPublisher(
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
