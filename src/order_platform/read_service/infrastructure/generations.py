"""Which generation of the read model is live: one pointer document, switched atomically.

Collection `read_model_active` holds one document, `{_id: "pointer", active, building,
heartbeat, previous, switchedAt}`. Readers use `active`; projections write `active` and, while
a rebuild runs, `building` too. Every change is one single-document update with the state it
expects in its filter (compare-and-set), so it is atomic on any MongoDB, replica set or not,
and two rebuilds can never both switch. No pointer document means the first generation, "",
whose collections are the `orders` and `timeline` the read model always had.

Each process caches the pointer for `pointer_ttl_seconds` (`PointerCache`): a reader sees a
switch at most that late, which is why the rebuild waits that long (and a margin) after marking
a generation as building before it copies, and after switching before it drops the old one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from order_platform.building_blocks.mongo.client import translate_unavailable
from order_platform.contracts.errors import Conflict
from order_platform.read_service.application.ports import Generations, ReadModelUnavailable
from order_platform.read_service.infrastructure.pointer_cache import Pointer, PointerCache
from order_platform.read_service.infrastructure.read_model import (
    MongoReadModel,
    collection_names,
)

Document = dict[str, Any]

POINTER_COLLECTION = "read_model_active"
POINTER_ID = "pointer"
FIRST_GENERATION = ""
POINTER_TTL_SECONDS = 1.0


class PointerMoved(Conflict):
    """The pointer is not in the state this change expects (another rebuild holds it)."""


class MongoReadModelGenerations:
    """`ReadModelGenerations` for the read service, and the pointer's changes for the rebuild."""

    def __init__(
        self,
        database: AsyncDatabase[Document],
        *,
        pointer_ttl_seconds: float = POINTER_TTL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`monotonic` times the pointer's cache; `now` is the wall clock of heartbeats,
        their staleness and `switchedAt`."""
        self._database = database
        self._pointer = database[POINTER_COLLECTION]
        self._cache = PointerCache(self.read, pointer_ttl_seconds, monotonic=monotonic)
        self._now = now
        self._models: dict[str, MongoReadModel] = {}

    @property
    def pointer_ttl_seconds(self) -> float:
        return self._cache.ttl_seconds

    async def current(self) -> Generations:
        return await self._cache.current()

    def model(self, generation: str) -> MongoReadModel:
        if generation not in self._models:
            self._models[generation] = MongoReadModel(self._database, generation)
        return self._models[generation]

    # -- for the rebuild ------------------------------------------------------------------------

    async def read(self) -> Pointer:
        """The pointer as stored now (never cached)."""
        with translate_unavailable(ReadModelUnavailable):
            document = await self._pointer.find_one({"_id": POINTER_ID})
        if document is None:
            return Pointer(FIRST_GENERATION, None, None)
        return Pointer(document["active"], document.get("building"), document.get("heartbeat"))

    async def begin(self, generation: str, *, stale_after: timedelta) -> str | None:
        """Mark `generation` as being built; projections start writing it within the TTL.

        Refused (`PointerMoved`) while another rebuild is building and alive; one whose heartbeat
        is older than `stale_after` died, and is taken over: its generation is returned for
        the caller to drop."""
        now = self._now()
        with translate_unavailable(ReadModelUnavailable):
            await self._pointer.update_one(
                {"_id": POINTER_ID},
                {"$setOnInsert": {"active": FIRST_GENERATION, "building": None}},
                upsert=True,
            )
            before = await self.read()
            result = await self._pointer.update_one(
                {
                    "_id": POINTER_ID,
                    "active": before.active,
                    "building": before.building,
                    **(
                        {} if before.building is None else {"heartbeat": {"$lt": now - stale_after}}
                    ),
                },
                {"$set": {"building": generation, "heartbeat": now}},
            )
        if result.matched_count != 1:
            raise PointerMoved(
                f"another rebuild is building generation {before.building!r} "
                f"(last heartbeat {before.heartbeat}); wait for it to finish"
            )
        return before.building

    async def beat(self, generation: str) -> None:
        """Say the rebuild of `generation` is alive; `PointerMoved` if it was taken over."""
        with translate_unavailable(ReadModelUnavailable):
            result = await self._pointer.update_one(
                {"_id": POINTER_ID, "building": generation},
                {"$set": {"heartbeat": self._now()}},
            )
        if result.matched_count != 1:
            raise PointerMoved(f"generation {generation!r} is no longer the one being built")

    async def switch(self, generation: str) -> str:
        """Make `generation` the live one, in one update; return the generation it replaced."""
        with translate_unavailable(ReadModelUnavailable):
            before = await self.read()
            result = await self._pointer.update_one(
                {"_id": POINTER_ID, "active": before.active, "building": generation},
                {
                    "$set": {
                        "active": generation,
                        "building": None,
                        "previous": before.active,
                        "switchedAt": self._now(),
                    }
                },
            )
        if result.matched_count != 1:
            raise PointerMoved(f"generation {generation!r} is no longer the one being built")
        self._cache.forget()
        return before.active

    async def abandon(self, generation: str) -> None:
        """Stop building `generation` (if it still is) and drop what was built."""
        with translate_unavailable(ReadModelUnavailable):
            await self._pointer.update_one(
                {"_id": POINTER_ID, "building": generation}, {"$set": {"building": None}}
            )
        await self.drop(generation)

    async def drop(self, generation: str) -> None:
        """Remove a generation's collections; never the live one's."""
        if (await self.read()).active == generation:
            raise PointerMoved(f"generation {generation!r} is live; it is not dropped")
        with translate_unavailable(ReadModelUnavailable):
            for name in collection_names(generation):
                await self._database.drop_collection(name)
        self._models.pop(generation, None)

    async def count(self, generation: str) -> int:
        """Orders stored in a generation (a scan on the embedded server: for summaries only)."""
        orders, _ = collection_names(generation)
        with translate_unavailable(ReadModelUnavailable):
            return await self._database[orders].estimated_document_count()
