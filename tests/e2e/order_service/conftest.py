"""Order Service processes over the embedded servers: environment, database, load helpers."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo import MongoClient
from pymongo.database import Database

from order_platform.contracts import OrderCreatedV1
from order_platform.devtools.embedded import PlatformService
from tests.support.kafka_topic import read_topic
from tests.support.outbox import pending_in


@pytest.fixture
def env(mongodb_uri: str, kafka_bootstrap: str, unique_name: str) -> dict[str, str]:
    return {
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DATABASE": unique_name,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "ORDER_EVENTS_TOPIC": unique_name,
        "OUTBOX_LEASE_SECONDS": "3",
        "LOG_FORMAT": "json",
    }


@pytest.fixture
def database(mongodb_uri: str, unique_name: str) -> Iterator[Database[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    yield client[unique_name]
    client.close()


def publish_failures(service: PlatformService) -> float:
    metrics = httpx.get(f"{service.url}/metrics", timeout=5).text
    match = re.search(r"^outbox_publish_failures_total (\S+)$", metrics, re.M)
    return float(match[1]) if match else 0.0


def pending(database: Database[dict[str, Any]]) -> int:
    return pending_in(database)


async def post_orders(url: str, count: int) -> list[str]:
    """`count` orders, 16 at a time; returns the ids the service acknowledged with 201."""
    limit = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:

        async def one(number: int) -> str:
            async with limit:
                response = await client.post(
                    "/orders", json={"customerName": f"Customer {number}", "totalAmount": "9.99"}
                )
            assert response.status_code == 201, response.text
            return str(response.json()["id"])

        return list(await asyncio.gather(*(one(number) for number in range(count))))


async def published_order_ids(kafka_bootstrap: str, topic: str) -> Counter[str]:
    records = await read_topic(kafka_bootstrap, topic)
    return Counter(str(OrderCreatedV1.from_json(record.value).order_id) for record in records)
