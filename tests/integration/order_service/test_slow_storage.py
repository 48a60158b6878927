"""Guarantee 7, slow is not down: MongoDB applies the insert but its reply comes too late.

A fault-injecting proxy sits between the Order Service and the real MongoDB-wire server.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from order_platform.contracts import OrderCreatedV1
from order_platform.devtools.embedded import MongoServer
from order_platform.order_service.infrastructure.settings import OrderServiceSettings
from tests.integration.order_service.conftest import serve
from tests.support.fault_proxy import FaultProxy
from tests.support.kafka_topic import read_topic
from tests.support.waiting import eventually

Database = AsyncDatabase[dict[str, Any]]


@pytest.fixture
def mongo_proxy(mongo_server: MongoServer) -> Iterator[FaultProxy]:
    with FaultProxy(mongo_server.host, mongo_server.port) as proxy:
        yield proxy


@pytest.fixture
async def slow_client(
    settings: OrderServiceSettings, mongo_proxy: FaultProxy
) -> AsyncIterator[httpx.AsyncClient]:
    through_proxy = settings.model_copy(
        update={
            "mongodb_uri": f"mongodb://{mongo_proxy.address}/?directConnection=true",
            "mongodb_timeout_seconds": 1,
        }
    )
    async with serve(through_proxy) as client:
        yield client


async def published(kafka_bootstrap: str, topic: str) -> Counter[str]:
    return Counter(
        str(OrderCreatedV1.from_json(record.value).order_id)
        for record in await read_topic(kafka_bootstrap, topic)
    )


async def test_guarantee_7_an_insert_answered_too_late_is_never_reported_as_not_stored(
    slow_client: httpx.AsyncClient,
    mongo_proxy: FaultProxy,
    database: Database,
    kafka_bootstrap: str,
    settings: OrderServiceSettings,
) -> None:
    warm = await slow_client.post("/orders", json={"customerName": "Warm", "totalAmount": 1})
    assert warm.status_code == 201, warm.text

    mongo_proxy.hold_replies()  # the server applies the insert; its answer is held
    response = await slow_client.post("/orders", json={"customerName": "Late", "totalAmount": 2})
    stored = await database.orders.find_one({"customerName": "Late"})
    mongo_proxy.release_replies()

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:order-platform:problem:outcome-unknown"
    assert "nothing was stored" not in response.text
    assert stored is not None  # it was stored: "nothing stored" would have been a lie

    # The stored order's event follows, although nobody told the relay it committed.
    late_id = stored["_id"]

    async def late_event_published() -> bool:
        counts = await published(kafka_bootstrap, settings.order_events_topic)
        return counts[late_id] >= 1

    await eventually(late_event_published, timeout=15, what="the late order's event published")
    counts = await published(kafka_bootstrap, settings.order_events_topic)
    assert counts == Counter({warm.json()["id"]: 1, late_id: 1})
