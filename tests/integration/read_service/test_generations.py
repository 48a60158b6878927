"""The read model's generation pointer: one document, changed by compare-and-set only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from order_platform.read_service.application.ports import Generations
from order_platform.read_service.domain import OrderView
from order_platform.read_service.infrastructure.generations import MongoReadModelGenerations
from tests.support.waiting import eventually

Database = AsyncDatabase[dict[str, Any]]
LONG = timedelta(minutes=5)


def view() -> OrderView:
    at = datetime.now(UTC).replace(microsecond=0)  # BSON keeps milliseconds
    return OrderView(uuid4(), "Lucas", Decimal("1.00"), at, uuid4())


@pytest.fixture
async def database(mongodb_uri: str, unique_name: str) -> AsyncIterator[Database]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    yield client[unique_name]
    await client.close()


@pytest.fixture
def generations(database: Database) -> MongoReadModelGenerations:
    return MongoReadModelGenerations(database, pointer_ttl_seconds=0)


async def test_without_a_pointer_the_first_generation_is_live(
    generations: MongoReadModelGenerations, database: Database
) -> None:
    await generations.model("").apply([first := view()])

    assert await generations.current() == Generations("")
    assert await database.orders.find_one({"_id": str(first.id)}) is not None  # as it always was


async def test_a_generation_is_collections_of_its_own_dropped_with_it(
    generations: MongoReadModelGenerations, database: Database
) -> None:
    # What the pointer's changes do is the contract's (test_port_contracts); this is where
    # the MongoDB adapter keeps each generation.
    await generations.model("").apply([view()])
    await generations.begin("g1", stale_after=LONG)
    await generations.model("g1").apply([view()])
    await generations.switch("g1")
    await generations.begin("g2", stale_after=LONG)
    await generations.model("g2").apply([view()])

    await generations.drop("")
    await generations.abandon("g2")

    names = set(await database.list_collection_names())
    assert {"orders_g1", "timeline_g1"} <= names
    assert not {"orders", "timeline", "orders_g2", "timeline_g2"} & names


async def test_the_pointer_records_the_previous_generation_and_when_it_switched(
    database: Database,
) -> None:
    at = datetime(2026, 11, 25, 8, 0, 0, 250_000, tzinfo=UTC)
    generations = MongoReadModelGenerations(database, pointer_ttl_seconds=0, now=lambda: at)
    await generations.begin("g1", stale_after=LONG)

    await generations.switch("g1")

    stored = await database.read_model_active.find_one({"_id": "pointer"})
    assert stored is not None
    assert (stored["active"], stored["building"]) == ("g1", None)
    assert (stored["previous"], stored["switchedAt"], stored["heartbeat"]) == ("", at, at)


async def test_a_process_sees_a_switch_within_its_pointer_ttl(database: Database) -> None:
    seconds = 1000.0
    reader = MongoReadModelGenerations(database, pointer_ttl_seconds=60, monotonic=lambda: seconds)
    operator = MongoReadModelGenerations(database, pointer_ttl_seconds=0)
    assert await reader.current() == Generations("")
    await operator.begin("g1", stale_after=LONG)
    await operator.switch("g1")

    seconds += 59.9
    assert await reader.current() == Generations("")  # cached, within its TTL
    assert await MongoReadModelGenerations(database).current() == Generations("g1")
    seconds += 0.1
    assert await reader.current() == Generations("g1")


async def test_the_process_that_switches_sees_it_at_once(database: Database) -> None:
    operator = MongoReadModelGenerations(database, pointer_ttl_seconds=60)
    assert await operator.current() == Generations("")
    await operator.begin("g1", stale_after=LONG)

    await operator.switch("g1")

    assert await operator.current() == Generations("g1")


async def test_after_a_switch_the_service_serves_nothing_cached_from_the_old_generation(
    client: httpx.AsyncClient, generations: MongoReadModelGenerations
) -> None:
    # The read service in-process, with its Redis cache: both answers below get cached.
    await generations.model("").apply([old := view()])
    assert [o["id"] for o in (await client.get("/orders")).json()] == [str(old.id)]
    assert (await client.get(f"/orders/{old.id}")).status_code == 200
    await generations.begin("g1", stale_after=LONG)
    await generations.model("g1").apply([new := view()])

    await generations.switch("g1")

    async def switched() -> bool:
        listed = [o["id"] for o in (await client.get("/orders")).json()]
        return listed == [str(new.id)]

    await eventually(switched, timeout=5, what="the new generation listed")
    assert (await client.get(f"/orders/{old.id}")).status_code == 404
    assert (await client.get(f"/orders/{new.id}")).status_code == 200
