"""The Order Service in-process (ASGI, with its real lifespan) over the embedded servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from order_platform.order_service.bootstrap import create_http_app
from order_platform.order_service.infrastructure.settings import OrderServiceSettings
from tests.support.asgi import serving


@pytest.fixture
def settings(mongodb_uri: str, kafka_bootstrap: str, unique_name: str) -> OrderServiceSettings:
    return OrderServiceSettings(
        mongodb_uri=mongodb_uri,
        mongodb_database=unique_name,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_enable_idempotence=False,
        order_events_topic=unique_name,
        outbox_lease_seconds=2,
        mongodb_timeout_seconds=2,
    )


@asynccontextmanager
async def serve(settings: OrderServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_http_app(settings), "order") as client:
        yield client


@pytest.fixture
async def client(settings: OrderServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings) as client:
        yield client


@pytest.fixture
async def database(
    mongodb_uri: str, settings: OrderServiceSettings
) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    yield mongo[settings.mongodb_database]
    await mongo.close()
