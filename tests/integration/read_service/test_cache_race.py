"""The stale-set race against the real Redis and MongoDB: a slow reader interleaved with a
projection must not leave its stale list where later readers find it (guarantee 4)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from redis.asyncio import Redis

from order_platform.read_service.application.ports import Page
from order_platform.read_service.application.projection import ProjectOrders
from order_platform.read_service.application.queries import ListOrders
from order_platform.read_service.domain import ListPosition, OrderView
from order_platform.read_service.infrastructure.cache import RedisViewCache
from order_platform.read_service.infrastructure.read_model import MongoReadModel
from tests.unit.read_service.fakes import FakeReadModelGenerations


class SlowFirstPage(MongoReadModel):
    """The first `page` call reads the database, then waits to be released."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        super().__init__(database)
        self.loaded, self.release = asyncio.Event(), asyncio.Event()

    async def page(
        self,
        limit: int,
        after: ListPosition | None,
        owner: str | None = None,
        status: str | None = None,
    ) -> Page:
        page = await super().page(limit, after, owner, status)
        if not self.loaded.is_set():
            self.loaded.set()
            await self.release.wait()
        return page


@pytest.fixture
async def cache(redis_url: str, unique_name: str) -> AsyncIterator[RedisViewCache]:
    redis = Redis.from_url(redis_url)
    yield RedisViewCache(
        redis,
        order_ttl_seconds=60,
        list_ttl_seconds=60,
        retry_after_seconds=1,
        key_prefix=f"{unique_name}:",
    )
    await redis.aclose()


def view() -> OrderView:
    return OrderView(uuid4(), "Lucas", Decimal("1.00"), datetime.now(UTC), uuid4())


async def test_guarantee_4_a_slow_reader_cannot_cache_a_list_older_than_a_projection(
    mongodb_uri: str, unique_name: str, cache: RedisViewCache
) -> None:
    from pymongo import AsyncMongoClient

    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    model = SlowFirstPage(mongo[unique_name])
    project, list_orders = (
        ProjectOrders(FakeReadModelGenerations(model), cache),
        ListOrders(FakeReadModelGenerations(model), cache),
    )
    await project([view()])

    slow = asyncio.create_task(list_orders(50, None))
    await asyncio.wait_for(model.loaded.wait(), 5)
    await project([view()])
    model.release.set()
    assert len((await slow).orders) == 1  # it stored what it read, under the old generation

    assert len((await list_orders(50, None)).orders) == 2
    assert len((await list_orders(50, None)).orders) == 2  # and the fresh answer is cached
    await mongo.close()
