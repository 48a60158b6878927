"""The Order Read Service in-process (ASGI with its real lifespan) over the embedded servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from order_platform.read_service.bootstrap import create_http_app
from order_platform.read_service.infrastructure.settings import ReadServiceSettings
from tests.support.asgi import serving


@pytest.fixture
def settings(
    mongodb_uri: str, kafka_bootstrap: str, redis_url: str, unique_name: str
) -> ReadServiceSettings:
    return ReadServiceSettings(
        mongodb_uri=mongodb_uri,
        mongodb_database=unique_name,
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_enable_idempotence=False,
        order_events_topic=unique_name,
        consumer_group=f"{unique_name}-reads",
        redis_url=redis_url,
        cache_key_prefix=f"{unique_name}:",
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=300,
        mongodb_timeout_seconds=2,
    )


@asynccontextmanager
async def serve(settings: ReadServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(create_http_app(settings), "reads") as client:
        yield client


@pytest.fixture
async def client(settings: ReadServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(settings) as client:
        yield client


@pytest.fixture
async def database(
    mongodb_uri: str, settings: ReadServiceSettings
) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    yield mongo[settings.mongodb_database]
    await mongo.close()
