"""The simulated world the Order Service's real core runs in: one MongoDB, one broker, faults.

MongoDB is mongoeco's in-process engine (the same query engine as the embedded server the
adapters' contract suites run against), behind async collections that look like PyMongo's to
the real adapters (`MongoOutbox`, `RelayRegistry`, `MongoUnitOfWork`, `MongoIdempotencyKeys`).
Every call is an await point where the seed decides what goes wrong:

- `not_sent`: refused before it left the process (server selection timed out): no effect;
- `lost_reply`: applied, then the connection drops before the reply;
- `late`: the caller times out, and the operation is applied afterwards, while it has moved on;
- an outage: every call fails before it is sent, for a while;
- a pause of the calling process (GC, SIGSTOP): it stalls at its next call, past its lease;
- a crash: the process's memory is gone; a call it had sent may still be applied.

The broker is a log of what it acknowledged, with the same kinds of fault (an ack lost after
the write, a request that fails, an outage). Everything random comes from the seed's `Random`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from random import Random
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import bson
from bson.codec_options import CodecOptions
from mongoeco import AsyncMongoClient
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError

from order_platform.building_blocks.runtime.task_supervisor import TaskSupervisor
from order_platform.devtools.embedded.fast_memory_engine import FastIdMemoryEngine
from order_platform.order_service.outbox.entry import OutboxEntry
from order_platform.order_service.outbox.kafka_publisher import PublishFailed
from tests.simulation.consumer_groups import Topic

EPOCH = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
# The client's per-operation timeout (MONGODB_TIMEOUT_SECONDS) and the producer's.
MONGO_TIMEOUT = 5.0
BROKER_TIMEOUT = 5.0

_BSON = CodecOptions(tz_aware=True, tzinfo=UTC)

Document = dict[str, Any]


def _through_bson(document: Document) -> Document:
    """What a round trip through the wire does to a document: milliseconds, aware datetimes."""
    return bson.decode(bson.encode(document), codec_options=_BSON)


@dataclass
class FaultRates:
    """Chance of each fault per call, chosen by the seed for the whole run until it heals."""

    not_sent: float = 0.0
    lost_reply: float = 0.0
    late: float = 0.0
    broker_failed: float = 0.0
    broker_lost_ack: float = 0.0
    # Slow but within the timeout: it widens the windows in which two loops of one process
    # (a relay's heartbeat and its publishing) interleave. Healed, nothing is slow.
    slow: float = 0.0

    @classmethod
    def drawn(cls, rng: Random) -> FaultRates:
        def rate() -> float:
            return rng.choice((0.0, 0.0, 0.02, 0.08, 0.2))

        return cls(rate(), rate(), rate(), rate(), rate(), rng.choice((0.03, 0.03, 0.3)))


Claimed = tuple[float, str, str]  # when, the event id, the relay that claimed it


@dataclass
class Publish:
    """One event the broker took in, and whether its publisher heard that it did."""

    at: float
    event_id: str
    order_id: str
    publisher: str
    acknowledged: bool = False


@dataclass
class Process:
    """One Order Service replica's process as the world sees it: alive, or paused until."""

    name: str
    alive: bool = True
    paused_until: float = 0.0
    # A dict, not a set: a crash cancels its tasks in the order they started, the same in
    # every process (a set's order follows addresses, which earlier seeds moved).
    tasks: dict[asyncio.Task[Any], None] = field(default_factory=dict)
    resumed: asyncio.Event = field(default_factory=asyncio.Event)

    def pause(self, until: float) -> None:
        """It stalls at its next call until then (GC, SIGSTOP), or until `resume`."""
        self.paused_until = until
        self.resumed.clear()

    def resume(self) -> None:
        self.paused_until = 0.0
        self.resumed.set()

    def crash(self, supervisor: TaskSupervisor) -> None:
        """Its memory is gone: every task it runs ends where it is, the supervisor's too (a
        supervisor has no "kill": a crash is not a stop)."""
        self.alive = False
        for task in list(self.tasks):
            task.cancel()
        for supervised in supervisor._tasks.values():
            if supervised.task is not None:
                supervised.task.cancel()


class Trace:
    """The steps of a run, for a failing seed's report (the same seed gives the same lines)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.lines: list[str] = []
        self.closed = False  # the run is over: what its teardown does is not part of it

    def __call__(self, actor: str, text: str) -> None:
        if not self.closed:
            self.lines.append(f"{self._loop.time():9.3f}s  {actor:<12} {text}")


class World:
    def __init__(self, rng: Random, loop: asyncio.AbstractEventLoop, rates: FaultRates) -> None:
        self.rng = rng
        self.loop = loop
        self.rates = rates
        # The read model's and Redis's calls stay slow now and then after the heal too: the
        # consuming side's bound allows for it, and a rebuild's copy then overlaps projections.
        self.read_side_slow = max(rates.slow, 0.03)
        self.trace = Trace(loop)
        self.faults: Counter[str] = Counter()
        self.calls = 0
        self._database = AsyncMongoClient(engine=FastIdMemoryEngine())["order-write-db"]
        self.mongo_down_until = 0.0
        self.broker_down_until = 0.0
        self.read_model_down_until = 0.0  # the read model's own MongoDB
        self.redis_down_until = 0.0
        self.dead_letters: list[str] = []
        # What the broker took in, in order.
        self.published: list[Publish] = []
        # Entries a relay's sweep claimed (its `claim_expired` returned them): (time, event id,
        # claimer). A lease changes hands only this way.
        self.claims: list[Claimed] = []
        self.topic = Topic(self)
        self.healed_at = 0.0
        self.last_late_write_at = 0.0
        self._ids = 0

    def now(self) -> datetime:
        """The database server's clock."""
        return EPOCH + timedelta(seconds=self.loop.time())

    def new_id(self) -> UUID:
        self._ids += 1
        return UUID(int=self._ids)

    def heal(self) -> None:
        """Every fault stops: no more injected errors, outages over, pauses ended."""
        self.rates = FaultRates()
        self.healed_at = self.loop.time()
        self.mongo_down_until = self.broker_down_until = 0.0
        self.read_model_down_until = self.redis_down_until = 0.0

    def collection(self, process: Process, name: str) -> SimCollection:
        return SimCollection(self, process, name)

    def raw(self, name: str) -> InstantCollection:
        """The collection itself, each operation applied at once (no await point)."""
        return InstantCollection(self._database[name])

    async def hello(self, process: Process) -> Document:
        return await self.mongo_call(process, "hello", lambda: {"localTime": self.now()})

    async def enter(self, process: Process) -> None:
        """A call starts: a crashed process makes none; a paused one stalls here."""
        if not process.alive:
            raise asyncio.CancelledError(f"{process.name} has crashed")
        while self.loop.time() < process.paused_until:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    process.resumed.wait(), process.paused_until - self.loop.time()
                )
        if not process.alive:
            raise asyncio.CancelledError(f"{process.name} has crashed")

    def chance(self, kind: str, rate: float) -> bool:
        """Whether the fault `kind` strikes now (counted when it does)."""
        if rate and self.rng.random() < rate:
            self.faults[kind] += 1
            return True
        return False

    def _fault(self, *kinds: tuple[str, float]) -> str | None:
        for kind, rate in kinds:
            if rate and self.rng.random() < rate:
                return kind
        return None

    def latency(self, slow: float | None = None) -> float:
        """Mostly milliseconds; now and then (`slow`, by default the run's rate until the
        heal) a slow call that is still within the timeout."""
        if self.rng.random() < (self.rates.slow if slow is None else slow):
            return self.rng.uniform(0.5, MONGO_TIMEOUT * 0.9)
        return self.rng.uniform(0.0005, 0.02)

    async def mongo_call[T](
        self, process: Process, what: str, apply: Callable[[], T], *, writes: bool = False
    ) -> T:
        await self.enter(process)
        self.calls += 1
        latency = self.latency()
        there = self.rng.uniform(0.0, latency)  # the rest is the way back
        fault = self._fault(
            ("not_sent", self.rates.not_sent),
            ("lost_reply", self.rates.lost_reply),
            ("late", self.rates.late),
        )
        if self.loop.time() < self.mongo_down_until:
            fault = "outage"
        if fault in ("outage", "not_sent"):
            self.faults[f"mongo_{fault}"] += 1
            self.trace(process.name, f"{what}: {fault}")
            await asyncio.sleep(latency)
            raise ServerSelectionTimeoutError(f"simulated: {what} not sent ({fault})")
        await asyncio.sleep(there)
        if fault == "late":
            self.faults["mongo_late"] += 1
            if writes:
                applied_after = MONGO_TIMEOUT + self.rng.uniform(0.0, 3.0) - there
                self.loop.call_later(applied_after, self._apply_late, process, what, apply)
            self.trace(process.name, f"{what}: reply after the timeout")
            await asyncio.sleep(MONGO_TIMEOUT - there)
            raise NetworkTimeout(f"simulated: {what} timed out")
        result = apply()
        if fault == "lost_reply":
            self.faults["mongo_lost_reply"] += 1
            self.trace(process.name, f"{what}: applied, reply lost")
            await asyncio.sleep(latency - there)
            raise AutoReconnect(f"simulated: connection closed after {what}")
        await asyncio.sleep(latency - there)
        if not process.alive:
            raise asyncio.CancelledError(f"{process.name} has crashed")
        return result

    def _apply_late(self, process: Process, what: str, apply: Callable[[], object]) -> None:
        self.last_late_write_at = self.loop.time()
        try:
            apply()
            self.trace(process.name, f"{what}: applied late")
        except Exception as error:  # nobody is waiting for the answer any more
            self.trace(process.name, f"{what}: applied late, failed: {type(error).__name__}")

    async def publish(self, process: Process, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        await self.enter(process)
        self.calls += 1
        latency = self.rng.uniform(0.001, 0.03)
        fault = self._fault(
            ("failed", self.rates.broker_failed), ("lost_ack", self.rates.broker_lost_ack)
        )
        if self.loop.time() < self.broker_down_until:
            fault = "outage"
        if fault in ("outage", "failed"):
            self.faults[f"broker_{fault}"] += 1
            await asyncio.sleep(BROKER_TIMEOUT if fault == "outage" else latency)
            raise PublishFailed(f"simulated: broker {fault}")
        await asyncio.sleep(latency / 2)
        # A batch may be cut short: the first ones acknowledged, the rest not.
        taken = len(entries)
        if len(entries) > 1 and self.rng.random() < self.rates.broker_failed:
            taken = self.rng.randrange(len(entries))
            self.faults["broker_partial"] += 1
        taken_in = [
            Publish(self.loop.time(), entry.event_id, entry.order_id, process.name)
            for entry in entries[:taken]
        ]
        self.published.extend(taken_in)
        for entry in entries[:taken]:
            self.topic.append(entry.key, entry.value, entry.headers)
        self.trace(process.name, f"published {[e.order_id[-4:] for e in entries[:taken]]}")
        await asyncio.sleep(latency / 2)
        if fault == "lost_ack":
            self.faults["broker_lost_ack"] += 1
            raise PublishFailed("simulated: acknowledgement lost")
        if not process.alive:
            raise asyncio.CancelledError(f"{process.name} has crashed")
        for publish in taken_in:
            publish.acknowledged = True
        return list(entries[:taken])


def at_once[T](operation: Coroutine[Any, Any, T]) -> T:
    """Run one of the engine's coroutines to its end without a loop: the in-memory engine
    never waits on anything, so an operation is atomic, as on a server (and needs no thread)."""
    try:
        while True:
            if (waited_on := operation.send(None)) is not None:
                operation.close()
                raise RuntimeError(f"the engine waited on {waited_on!r}")
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


class InstantCollection:
    """mongoeco's async collection, each operation applied at once."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    def insert_one(self, document: Document) -> Any:
        return at_once(self._collection.insert_one(document))

    def replace_one(self, query: Document, document: Document) -> Any:
        return at_once(self._collection.replace_one(query, document))

    def update_one(self, query: Document, update: Document, *, upsert: bool = False) -> Any:
        return at_once(self._collection.update_one(query, update, upsert=upsert))

    def update_many(self, query: Document, update: Document) -> Any:
        return at_once(self._collection.update_many(query, update))

    def find_one_and_update(
        self, query: Document, update: Document, projection: Document | None, after: bool
    ) -> Document | None:
        return at_once(  # type: ignore[no-any-return]
            self._collection.find_one_and_update(
                query,
                update,
                projection=projection,
                return_document=ReturnDocument.AFTER if after else ReturnDocument.BEFORE,
            )
        )

    def delete_one(self, query: Document) -> Any:
        return at_once(self._collection.delete_one(query))

    def find_one(self, query: Document, projection: Document | None = None) -> Any:
        return at_once(self._collection.find_one(query, projection))

    def find(
        self, query: Document, projection: Document | None = None, *, limit: int = 0
    ) -> list[Document]:
        cursor = self._collection.find(query, projection)
        return at_once((cursor.limit(limit) if limit else cursor).to_list())


class SimCollection:
    """The part of PyMongo's `AsyncCollection` the adapters use, on the world's MongoDB."""

    def __init__(self, world: World, process: Process, name: str) -> None:
        self._world = world
        self._process = process
        self._name = name
        self._raw = world.raw(name)

    def _call[T](self, what: str, apply: Callable[[], T], *, writes: bool = False) -> Any:
        return self._world.mongo_call(self._process, f"{self._name}.{what}", apply, writes=writes)

    async def insert_one(self, document: Document) -> Any:
        return await self._call(
            "insert_one", lambda: self._raw.insert_one(_through_bson(document)), writes=True
        )

    async def replace_one(self, query: Document, document: Document) -> Any:
        return await self._call(
            "replace_one",
            lambda: self._raw.replace_one(_through_bson(query), _through_bson(document)),
            writes=True,
        )

    async def update_one(self, query: Document, update: Document, upsert: bool = False) -> Any:
        return await self._call(
            "update_one",
            lambda: self._raw.update_one(
                _through_bson(query), _through_bson(update), upsert=upsert
            ),
            writes=True,
        )

    async def bulk_write(self, requests: Sequence[UpdateOne], ordered: bool = True) -> Any:
        """`UpdateOne`s only (all the adapters send), each applied on its own, as on a server."""

        def apply() -> SimpleNamespace:
            results = [
                self._raw.update_one(_through_bson(request._filter), _through_bson(request._doc))
                for request in requests
            ]
            return SimpleNamespace(
                matched_count=sum(result.matched_count for result in results),
                modified_count=sum(result.modified_count for result in results),
            )

        return await self._call("bulk_write", apply, writes=True)

    async def update_many(self, query: Document, update: Document) -> Any:
        return await self._call(
            "update_many",
            lambda: self._raw.update_many(_through_bson(query), _through_bson(update)),
            writes=True,
        )

    async def find_one_and_update(
        self,
        query: Document,
        update: Document,
        *,
        projection: Document | None = None,
        return_document: ReturnDocument = ReturnDocument.BEFORE,
    ) -> Document | None:
        def apply() -> Document | None:
            found = self._raw.find_one_and_update(
                _through_bson(query),
                _through_bson(update),
                projection,
                after=return_document is ReturnDocument.AFTER,
            )
            return None if found is None else _through_bson(found)

        return await self._call("find_one_and_update", apply, writes=True)

    async def delete_one(self, query: Document) -> Any:
        return await self._call(
            "delete_one", lambda: self._raw.delete_one(_through_bson(query)), writes=True
        )

    async def find_one(self, query: Document, projection: Document | None = None) -> Any:
        def read() -> Document | None:
            found = self._raw.find_one(_through_bson(query), projection)
            return None if found is None else _through_bson(found)

        return await self._call("find_one", read)

    def find(
        self,
        query: Document,
        projection: Document | None = None,
        *,
        limit: int = 0,
        batch_size: int = 0,
    ) -> SimCursor:
        return SimCursor(self, query, projection, limit)

    async def estimated_document_count(self) -> int:
        return await self._call("count", lambda: len(self._raw.find({}, {"_id": 1})))

    async def create_index(self, *args: Any, **kwargs: Any) -> str:
        return await self._call("create_index", lambda: "index")


class SimCursor:
    """A `find`: iterated, one call answers it all; sorted by `_id`, `to_list(n)` walks the
    `_id` index n at a time, each step a call of its own (documents stored meanwhile above
    the position are seen, as on a server)."""

    def __init__(
        self, collection: SimCollection, query: Document, projection: Document | None, limit: int
    ) -> None:
        self._collection = collection
        self._query = query
        self._projection = projection
        self._limit = limit
        self._after: Any = None

    def sort(self, key: str, direction: int) -> SimCursor:
        assert (key, direction) == ("_id", 1), "the simulated cursor walks `_id` upwards only"
        return self

    async def __aiter__(self) -> AsyncIterator[Document]:
        for document in await self._fetch(self._query, self._limit):
            yield document

    async def to_list(self, length: int) -> list[Document]:
        query = (
            self._query
            if self._after is None
            else {"$and": [self._query, {"_id": {"$gt": self._after}}]}
        )
        found = sorted(await self._fetch(query, 0), key=lambda document: document["_id"])
        batch = found[:length]
        if batch:
            self._after = batch[-1]["_id"]
        return batch

    async def close(self) -> None:
        return None

    def _fetch(self, query: Document, limit: int) -> Any:
        raw = self._collection._raw
        projection = self._projection
        return self._collection._call(
            "find",
            lambda: [
                _through_bson(d) for d in raw.find(_through_bson(query), projection, limit=limit)
            ],
        )


class SimPublisher:
    """The relay's `Publisher` port, on the world's broker."""

    def __init__(self, world: World, process: Process) -> None:
        self._world = world
        self._process = process

    async def publish(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        return await self._world.publish(self._process, entries)
