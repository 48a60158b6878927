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
from order_platform.read_service.infrastructure.generations import (
    MongoReadModelGenerations,
    PointerMoved,
)
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


async def test_a_build_then_a_switch_moves_readers_in_one_step(
    generations: MongoReadModelGenerations, database: Database
) -> None:
    await generations.model("").apply([old := view()])

    assert await generations.begin("g1", stale_after=LONG) is None
    assert await generations.current() == Generations("", "g1")
    assert (await generations.current()).written == ("", "g1")
    await generations.model("g1").apply([new := view()])
    assert await generations.model("").get(new.id) is None  # readers still see only the old

    assert await generations.switch("g1") == ""

    assert await generations.current() == Generations("g1")
    assert await generations.model("g1").get(new.id) == new
    assert await generations.model("g1").get(old.id) is None
    await generations.drop("")
    assert "orders" not in await database.list_collection_names()
    assert {"orders_g1", "timeline_g1"} <= set(await database.list_collection_names())


async def test_a_second_rebuild_is_refused_while_the_first_is_alive(
    generations: MongoReadModelGenerations,
) -> None:
    await generations.begin("g1", stale_after=LONG)

    with pytest.raises(PointerMoved, match="another rebuild"):
        await generations.begin("g2", stale_after=LONG)
    with pytest.raises(PointerMoved):
        await generations.switch("g2")
    assert await generations.current() == Generations("", "g1")


async def test_a_dead_rebuild_is_taken_over_and_cannot_switch_any_more(
    generations: MongoReadModelGenerations,
) -> None:
    await generations.begin("g1", stale_after=LONG)

    assert await generations.begin("g2", stale_after=timedelta(0)) == "g1"

    with pytest.raises(PointerMoved):
        await generations.beat("g1")
    with pytest.raises(PointerMoved):
        await generations.switch("g1")
    await generations.beat("g2")
    assert await generations.switch("g2") == ""


async def test_an_abandoned_build_leaves_the_live_generation_alone(
    generations: MongoReadModelGenerations, database: Database
) -> None:
    await generations.model("").apply([kept := view()])
    await generations.begin("g1", stale_after=LONG)
    await generations.model("g1").apply([view()])

    await generations.abandon("g1")

    assert await generations.current() == Generations("")
    assert await generations.model("").get(kept.id) == kept
    assert "orders_g1" not in await database.list_collection_names()
    with pytest.raises(PointerMoved, match="live"):
        await generations.drop("")


async def test_a_process_sees_a_switch_within_its_pointer_ttl(database: Database) -> None:
    reader = MongoReadModelGenerations(database, pointer_ttl_seconds=60)
    operator = MongoReadModelGenerations(database, pointer_ttl_seconds=0)
    assert await reader.current() == Generations("")
    await operator.begin("g1", stale_after=LONG)
    await operator.switch("g1")

    assert await reader.current() == Generations("")  # cached, within its TTL
    assert await MongoReadModelGenerations(database).current() == Generations("g1")


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
