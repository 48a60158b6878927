"""The `_id` shortcut of `FastIdMemoryEngine` keeps MongoDB's semantics and skips the scans."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from bson import ObjectId
from bson.code import Code
from mongoeco import AsyncMongoClient as InProcessClient
from mongoeco.engines.memory import MemoryEngine
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from order_platform.devtools.embedded.fast_memory_engine import (
    FastIdMemoryEngine,
    has_exact_match_id,
)

ID_FACTORIES: dict[str, Callable[[], object]] = {
    "str": lambda: f"order-{uuid.uuid4().hex}",
    "uuid": uuid.uuid4,
    "objectid": ObjectId,
}


@pytest.fixture
async def db(mongodb_uri: str, unique_name: str) -> AsyncIterator[AsyncDatabase[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongodb_uri, uuidRepresentation="standard", serverSelectionTimeoutMS=5000
    )
    try:
        yield client[unique_name]
    finally:
        await client.drop_database(unique_name)
        await client.close()


@pytest.mark.parametrize("new_id", ID_FACTORIES.values(), ids=ID_FACTORIES.keys())
async def test_a_duplicate_id_insert_still_fails(
    db: AsyncDatabase[dict[str, Any]], new_id: Callable[[], object]
) -> None:
    document_id = new_id()
    await db.orders.insert_many([{"_id": new_id()} for _ in range(20)])
    await db.orders.insert_one({"_id": document_id, "version": 1})

    with pytest.raises(DuplicateKeyError):
        await db.orders.insert_one({"_id": document_id, "version": 2})
    with pytest.raises(BulkWriteError):
        await db.orders.insert_many([{"_id": new_id()}, {"_id": document_id}])
    assert (await db.orders.find_one({"_id": document_id}) or {}).get("version") == 1


@pytest.mark.parametrize("new_id", ID_FACTORIES.values(), ids=ID_FACTORIES.keys())
async def test_id_lookups_find_what_exists_and_nothing_else(
    db: AsyncDatabase[dict[str, Any]], new_id: Callable[[], object]
) -> None:
    document_id = new_id()
    await db.orders.insert_many([{"_id": document_id, "status": "new"}, {"_id": new_id()}])

    assert await db.orders.find_one({"_id": new_id()}) is None
    assert await db.orders.find_one({"_id": document_id, "status": "new"}) is not None
    assert await db.orders.find_one({"_id": document_id, "status": "paid"}) is None
    assert await db.orders.find_one({"_id": new_id(), "status": "new"}) is None


async def test_an_upsert_of_a_new_id_inserts_once(db: AsyncDatabase[dict[str, Any]]) -> None:
    for attempt in range(3):
        await db.orders.update_one({"_id": "o-1"}, {"$set": {"attempt": attempt}}, upsert=True)
    assert await db.orders.count_documents({}) == 1
    assert await db.orders.find_one({"_id": "o-1"}) == {"_id": "o-1", "attempt": 2}


async def test_a_secondary_unique_index_still_rejects_duplicates(
    db: AsyncDatabase[dict[str, Any]],
) -> None:
    await db.orders.create_index("idempotencyKey", unique=True)
    await db.orders.insert_one({"_id": "o-1", "idempotencyKey": "k-1"})
    with pytest.raises(DuplicateKeyError):
        await db.orders.insert_one({"_id": "o-2", "idempotencyKey": "k-1"})
    assert await db.orders.find_one({"_id": "o-2"}) is None


async def test_numeric_ids_keep_the_stock_equality_check(
    db: AsyncDatabase[dict[str, Any]],
) -> None:
    """1 and 1.0 are the same `_id` in MongoDB although their storage keys differ."""
    await db.counters.insert_one({"_id": 1})
    with pytest.raises(DuplicateKeyError):
        await db.counters.insert_one({"_id": 1.0})
    assert await db.counters.find_one({"_id": 1.0}) == {"_id": 1}


def test_only_exact_match_types_take_the_shortcut() -> None:
    assert has_exact_match_id("a")
    assert has_exact_match_id(uuid.uuid4())
    assert has_exact_match_id(ObjectId())
    assert not has_exact_match_id(Code("a"))  # a str subclass that compares with its scope
    assert not has_exact_match_id(1)
    assert not has_exact_match_id({"a": 1})
    assert not has_exact_match_id(None)


@dataclass
class ReadCounter:
    reads: int = 0


def _counting_engine(base: type[MemoryEngine], counter: ReadCounter) -> MemoryEngine:
    """An engine that counts stored documents it reads: a scan reads every one of them."""

    class Counting(base):  # type: ignore[valid-type, misc]
        def _borrow_storage_document(self, data: Any) -> Any:
            counter.reads += 1
            return super()._borrow_storage_document(data)

    engine: MemoryEngine = Counting()
    return engine


@pytest.mark.parametrize(
    ("engine_class", "expected_reads"),
    [(MemoryEngine, 300), (FastIdMemoryEngine, 0)],
    ids=["stock-scans", "fast-does-not"],
)
async def test_inserting_and_missing_by_id_does_not_scan_the_collection(
    engine_class: type[MemoryEngine], expected_reads: int
) -> None:
    """Guards the workaround itself: a mongoeco release that renames the private hooks would
    silently bring back the O(collection) cost, and this test would fail."""
    counter = ReadCounter()
    async with InProcessClient(_counting_engine(engine_class, counter)) as client:
        orders = client["db"]["orders"]
        await orders.insert_many([{"_id": f"o-{i}"} for i in range(300)])

        counter.reads = 0
        await orders.insert_one({"_id": "o-new"})
        insert_reads = counter.reads

        counter.reads = 0
        assert await orders.find_one({"_id": "o-missing"}) is None
        miss_reads = counter.reads

    assert insert_reads == expected_reads
    # The stock engine's scan also reads the newly inserted document.
    assert miss_reads in (expected_reads, expected_reads + 1)


@pytest.mark.parametrize("new_id", ID_FACTORIES.values(), ids=ID_FACTORIES.keys())
async def test_an_id_in_query_finds_what_the_stock_engine_finds_in_its_order(
    db: AsyncDatabase[dict[str, Any]], new_id: Callable[[], object]
) -> None:
    ids = [new_id() for _ in range(30)]
    await db.orders.insert_many([{"_id": i, "n": n, "even": n % 2 == 0} for n, i in enumerate(ids)])
    wanted = [ids[20], ids[3], new_id(), ids[11], ids[3]]  # one missing, one twice

    found = [doc["n"] async for doc in db.orders.find({"_id": {"$in": wanted}})]
    evens = [doc["n"] async for doc in db.orders.find({"_id": {"$in": wanted}, "even": True})]
    changed = await db.orders.update_many({"_id": {"$in": wanted}}, {"$set": {"seen": True}})

    assert found == [3, 11, 20]  # natural order, each once
    assert evens == [20]  # the rest of the query still applies
    assert changed.matched_count == 3
    assert await db.orders.count_documents({"seen": True}) == 3


async def test_an_id_in_query_does_not_scan_the_collection() -> None:
    counter = ReadCounter()
    async with InProcessClient(_counting_engine(FastIdMemoryEngine, counter)) as client:
        orders = client["db"]["orders"]
        await orders.insert_many([{"_id": f"o-{i}"} for i in range(300)])
        counter.reads = 0

        found = await orders.find({"_id": {"$in": ["o-7", "o-200", "o-missing"]}}).to_list()
        await orders.update_many({"_id": {"$in": ["o-7"]}}, {"$set": {"x": 1}})

    assert [doc["_id"] for doc in found] == ["o-7", "o-200"]
    assert counter.reads <= 10  # the documents asked for (a few reads each), not the 300
