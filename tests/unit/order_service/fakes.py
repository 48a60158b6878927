"""Hand-written fakes of the Order Service's ports, for tests without I/O."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self
from uuid import UUID

from order_platform.building_blocks.auth.rate_limit import RateLimitExceeded
from order_platform.order_service.application.ports import (
    KeyClaim,
    OrderAlreadyExists,
    OrderChangedMeanwhile,
    StorageUnavailable,
    WriteOutcomeUnknown,
)
from order_platform.order_service.domain import Order, OrderEvent


class FakeClock:
    def __init__(self, start: datetime = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class SequentialIds:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self) -> UUID:
        return UUID(int=next(self._counter))


class FakeStore:
    """What the database would hold: orders and the outbox of events they recorded. The
    orders are the store's own copies: a caller changing the order it read changes nothing
    stored until it commits."""

    def __init__(self) -> None:
        self.orders: dict[UUID, Order] = {}
        self.outbox: list[OrderEvent] = []
        self.available = True
        self.fail_commits = False
        self.claims_work_while_down = False
        # The next commits are applied (or not) but their reply is lost: outcome unknown.
        self.lose_replies = False
        # Set a gate to hold commits until the test opens it (an attempt "in flight").
        self.commit_gate: asyncio.Event | None = None
        self.commit_waiting = asyncio.Event()


class FakeOrderRepository:
    def __init__(self, store: FakeStore) -> None:
        self._store = store
        self.added: list[Order] = []
        self.updated: list[Order] = []

    def add(self, order: Order) -> None:
        self.added.append(order)

    def update(self, order: Order) -> None:
        self.updated.append(order)

    async def get(self, order_id: UUID) -> Order | None:
        if not self._store.available:
            raise StorageUnavailable("fake store is down")
        stored = self._store.orders.get(order_id)
        return None if stored is None else _copy(stored)

    async def has_event(self, order_id: UUID, event_id: UUID) -> bool:
        if not self._store.available:
            raise StorageUnavailable("fake store is down")
        return any(e.order_id == order_id and e.event_id == event_id for e in self._store.outbox)


def _copy(order: Order) -> Order:
    """The order as stored, without the events it recorded (they are in the outbox)."""
    return replace(order, events=[])


class FakeUnitOfWork:
    def __init__(self, store: FakeStore) -> None:
        self._store = store
        self.orders = FakeOrderRepository(store)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Uncommitted work is dropped.
        self.orders.added.clear()
        self.orders.updated.clear()

    async def commit(self) -> None:
        if self._store.commit_gate is not None:
            self._store.commit_waiting.set()
            await self._store.commit_gate.wait()
        if not self._store.available or self._store.fail_commits:
            raise StorageUnavailable("fake store is down")
        # All or nothing: check every write, then apply them.
        for order in self.orders.added:
            if order.id in self._store.orders:
                raise OrderAlreadyExists(order.id)
        for order in self.orders.updated:
            if len(order.events) != 1:
                raise ValueError("update stores the one transition recorded since the read")
            stored = self._store.orders.get(order.id)
            if stored is None or stored.version != order.version - 1:  # compare-and-set
                raise OrderChangedMeanwhile(order.id, None if stored is None else stored.version)
        for order in [*self.orders.added, *self.orders.updated]:
            self._store.orders[order.id] = _copy(order)
            self._store.outbox.extend(order.events)
        self.orders.added.clear()
        self.orders.updated.clear()
        if self._store.lose_replies:
            raise WriteOutcomeUnknown("fake reply lost")


class FakeIdempotencyKeys:
    def __init__(self, store: FakeStore) -> None:
        self._store = store
        self.claims: dict[str, KeyClaim] = {}

    async def claim(self, key: str, claim: KeyClaim) -> KeyClaim:
        if not (self._store.available or self._store.claims_work_while_down):
            raise StorageUnavailable("fake store is down")
        return self.claims.setdefault(key, claim)

    async def release(self, key: str, claim: KeyClaim) -> None:
        if not self._store.available:
            raise StorageUnavailable("fake store is down")
        if self.claims.get(key) == claim:
            del self.claims[key]


class CountingRateLimit:
    """At most `limit` hits per caller, for ever (a fake of `RedisRateLimit`)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.hits: dict[str, int] = {}

    async def hit(self, caller: str) -> None:
        self.hits[caller] = self.hits.get(caller, 0) + 1
        if self.hits[caller] > self.limit:
            raise RateLimitExceeded(
                policy="orders-per-minute",
                limit=self.limit,
                window_seconds=60,
                retry_after_seconds=17,
            )

    async def close(self) -> None:
        pass
