"""Readable by id means listed (guarantee 4), against the real broker, MongoDB and Redis: the
read service in-process with its projection, while other orders are written and the list is
read (and cached) all the time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pymongo.asynchronous.database import AsyncDatabase

from order_platform.contracts import OrderCreatedV1, event_headers
from order_platform.read_service.domain import OrderView
from order_platform.read_service.infrastructure.read_model import MongoReadModel
from order_platform.read_service.infrastructure.settings import ReadServiceSettings
from tests.support.events import order_created
from tests.support.waiting import eventually

TRIES = 50
LIMIT = 200  # far more than the orders written in the moment between the two reads
WRITE_EVERY = 0.02  # the background writer: 2 orders per 20 ms, about 100 orders/s


@pytest.fixture
async def producer(settings: ReadServiceSettings) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, linger_ms=2)
    await producer.start()
    yield producer
    await producer.stop()


def new_order() -> OrderCreatedV1:
    now = datetime.now(UTC)  # to the millisecond, as BSON and the list keep it
    return order_created(created_at=now.replace(microsecond=now.microsecond // 1000 * 1000))


async def send(producer: AIOKafkaProducer, topic: str, event: OrderCreatedV1) -> None:
    key = str(event.order_id).encode()
    await producer.send_and_wait(topic, event.to_json(), key=key, headers=event_headers())


async def test_guarantee_4_an_order_readable_by_id_is_on_every_list_page_fetched_after(
    client: httpx.AsyncClient, settings: ReadServiceSettings, producer: AIOKafkaProducer
) -> None:
    topic = settings.order_events_topic
    done = asyncio.Event()

    async def keep_writing() -> None:
        while not done.is_set():
            await asyncio.gather(*(send(producer, topic, new_order()) for _ in range(2)))
            # Paces the load (not a wait for a condition): stops as soon as the test is done.
            await asyncio.wait([asyncio.ensure_future(done.wait())], timeout=WRITE_EVERY)

    async def keep_listing() -> None:
        # Fills cached pages all the time, from whatever the timeline holds at that moment.
        while not done.is_set():
            assert (await client.get(f"/orders?limit={LIMIT}")).status_code == 200

    async def readable(event: OrderCreatedV1) -> bool:
        return (await client.get(f"/orders/{event.order_id}")).status_code == 200

    missing: list[str] = []
    async with asyncio.TaskGroup() as background:
        background.create_task(keep_writing())
        background.create_task(keep_listing())
        try:
            for _ in range(TRIES):
                target = new_order()
                await send(producer, topic, target)
                await eventually(partial(readable, target), interval=0.002, what="readable by id")
                page = (await client.get(f"/orders?limit={LIMIT}")).json()
                # It belongs on this page unless a full page of newer orders came first.
                created = [datetime.fromisoformat(order["createdAt"]) for order in page]
                assert len(page) < LIMIT or min(created) < target.created_at
                if str(target.order_id) not in {order["id"] for order in page}:
                    missing.append(str(target.order_id))
        finally:
            done.set()

    assert missing == [], f"{len(missing)} of {TRIES} orders readable by id were not listed"


async def test_an_order_revealed_by_one_process_is_readable_by_id_in_every_other(
    database: AsyncDatabase[dict[str, Any]],
) -> None:
    projector, reader = MongoReadModel(database), MongoReadModel(database)
    at = datetime.now(UTC).replace(microsecond=0)  # BSON keeps milliseconds
    order = OrderView(uuid4(), "Lucas", Decimal("1.00"), at, uuid4())
    staged = await projector.stage([order])
    assert await reader.get(order.id) is None  # and this process did not keep the miss

    await projector.reveal(staged)

    assert await reader.get(order.id) == order
    assert await reader.projected(order.id) is not None
