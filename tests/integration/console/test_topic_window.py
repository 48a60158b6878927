"""The console's window on the topic, against the embedded broker: the latest orders with
their record timestamps, found by order id or correlation id, and no more than it keeps."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer

from order_platform.console.infrastructure.topic_window import KafkaOrderStream
from order_platform.contracts import event_headers
from order_platform.devtools.embedded.kafka import create_topic
from tests.support.events import order_created
from tests.support.waiting import eventually


async def test_the_latest_orders_are_kept_and_found_by_order_or_correlation_id(
    kafka_bootstrap: str, unique_name: str
) -> None:
    await create_topic(kafka_bootstrap, unique_name, 2)
    events = [order_created(customer_name=f"Customer {n}") for n in range(6)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    before = datetime.now(UTC)
    try:
        for number, event in enumerate(events[:2]):
            await producer.send_and_wait(
                unique_name,
                event.to_json(),
                key=str(event.order_id).encode(),
                headers=event_headers(correlation_id=f"{unique_name}-{number}"),
            )
        stream = KafkaOrderStream(kafka_bootstrap, unique_name, kept=4)
        reading = asyncio.create_task(stream.run())
        try:
            # Started after two were published: they are read from before the end (up to
            # kept / partitions = 2 before the end of each partition).
            await eventually(
                lambda: _holds(len(stream.recent(10)) == 2), timeout=20, what="backlog read"
            )
            for number, event in enumerate(events[2:], start=2):
                await producer.send_and_wait(
                    unique_name,
                    event.to_json(),
                    key=str(event.order_id).encode(),
                    headers=event_headers(correlation_id=f"{unique_name}-{number}"),
                )
            await eventually(
                lambda: _holds(stream.find(str(events[5].order_id)) is not None),
                timeout=20,
                what="new orders read",
            )
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
    finally:
        await producer.stop()

    kept = stream.recent(10)
    assert len(kept) == 4, "bounded: the oldest are forgotten"
    assert {seen.order_id for seen in kept} == {event.order_id for event in events[2:]}
    assert stream.find(str(events[0].order_id)) is None
    assert stream.find(f"{unique_name}-0") is None  # forgotten with its order
    found = stream.find(f"{unique_name}-4")
    assert found is not None
    assert found.order_id == events[4].order_id
    assert found.event_id == events[4].event_id
    assert before - timedelta(seconds=1) <= found.published_at <= datetime.now(UTC)
    assert kept[0].published_at >= kept[-1].published_at  # newest first


async def _holds(value: bool) -> bool:
    return value
