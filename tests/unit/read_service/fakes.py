"""Hand-written fakes of the query side's ports."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from order_platform.read_service.application.ports import (
    CacheUnavailable,
    Generations,
    Page,
    ParkedChange,
    ReadModel,
    ReadModelUnavailable,
    Staged,
    StagedChanges,
)
from order_platform.read_service.domain import ListPosition, OrderChange, OrderView
from order_platform.read_service.infrastructure.generations import PointerMoved
from order_platform.read_service.infrastructure.pointer_cache import Pointer


class FakeReadModel:
    """Listed once staged, readable by id once revealed, as MongoReadModel; changes too."""

    def __init__(self) -> None:
        self.orders: dict[UUID, OrderView] = {}  # stored, and listed (as readable by id)
        self.staged_changes: dict[UUID, OrderView] = {}  # listed so, not readable so yet
        self.parked_changes: dict[UUID, ParkedChange] = {}  # by event id
        self.readable: set[UUID] = set()  # readable by id too
        self.projected_times: dict[UUID, datetime] = {}
        self.reads = 0
        self.available = True  # False: every call raises, as MongoReadModel does when away
        self._staged: dict[str, set[UUID]] = {}
        self._batches = itertools.count()

    async def apply(self, views: Sequence[OrderView]) -> None:
        await self.reveal(await self.stage(views))

    async def stage(self, views: Sequence[OrderView]) -> Staged:
        self._check_available()
        batch_id, first_stored = f"batch-{next(self._batches)}", []
        listed = self._staged[batch_id] = set()
        for view in views:
            if view.id not in self.orders:
                first_stored.append(view)
            stored = self.orders.setdefault(view.id, view)
            self.projected_times.setdefault(view.id, datetime.now(UTC))
            if stored.event_id == view.event_id:  # another event for the order changes nothing
                listed.add(view.id)
        return Staged(batch_id, first_stored)

    async def reveal(self, staged: Staged) -> None:
        self._check_available()
        self.readable |= self._staged.get(staged.batch_id, set())

    async def stage_changes(
        self, changes: Sequence[OrderChange], release_for: Sequence[UUID] = ()
    ) -> StagedChanges:
        self._check_available()
        order_ids = {change.order_id for change in changes} | set(release_for)
        parked = [p.change for p in self.parked_changes.values() if p.change.order_id in order_ids]
        candidates: dict[UUID, dict[UUID, OrderChange]] = {}
        for change in [*parked, *changes]:
            candidates.setdefault(change.order_id, {})[change.event_id] = change
        staged: list[OrderView] = []
        released: list[UUID] = []  # unparked once revealed, as MongoReadModel does
        for order_id, by_event in candidates.items():
            ordered = sorted(by_event.values(), key=lambda change: change.version)
            if order_id not in self.orders:
                for change in ordered:
                    self.parked_changes[change.event_id] = ParkedChange(change, 1)
                continue
            view = self.staged_changes.get(order_id, self.orders[order_id])
            changed = order_id in self.staged_changes
            for change in ordered:
                if change.version == view.version + 1:
                    view, changed = change.applied_to(view), True
                elif change.version > view.version:
                    self.parked_changes[change.event_id] = ParkedChange(change, view.version + 1)
                    continue
                if change.event_id in self.parked_changes:
                    released.append(change.event_id)
            if changed:
                self.staged_changes[order_id] = view
                staged.append(view)
        return StagedChanges(staged, released)

    async def reveal_changes(self, staged: StagedChanges) -> None:
        self._check_available()
        for view in staged.views:
            if (waiting := self.staged_changes.get(view.id)) and waiting.version == view.version:
                self.orders[view.id] = view
                del self.staged_changes[view.id]
        for event_id in staged.released:
            self.parked_changes.pop(event_id, None)

    async def catch_up(self, views: Sequence[OrderView]) -> None:
        self._check_available()
        for view in views:
            stored = self.orders.get(view.id)
            staged = self.staged_changes.get(view.id)
            if stored is None or stored.version >= view.version:
                continue
            if staged is not None and staged.version >= view.version:
                continue
            self.orders[view.id] = replace(stored, **_life_of(view))
            self.staged_changes.pop(view.id, None)

    async def parked(self, limit: int | None = None) -> list[ParkedChange]:
        self._check_available()
        if limit is None:
            return list(self.parked_changes.values())
        by_order = sorted(
            self.parked_changes.values(),
            key=lambda p: (str(p.change.order_id), p.change.version),
        )
        return by_order[:limit]

    async def parked_of(self, order_ids: Sequence[UUID]) -> list[ParkedChange]:
        self._check_available()
        return [
            p for p in await self.parked(len(self.parked_changes)) if p.change.order_id in order_ids
        ]

    async def projected(self, order_id: UUID) -> tuple[OrderView, datetime | None] | None:
        self._check_available()
        if order_id not in self.readable:
            return None
        return self.orders[order_id], self.projected_times.get(order_id)

    async def get(self, order_id: UUID) -> OrderView | None:
        self._check_available()
        self.reads += 1
        return self.orders[order_id] if order_id in self.readable else None

    async def page(
        self,
        limit: int,
        after: ListPosition | None,
        owner: str | None = None,
        status: str | None = None,
    ) -> Page:
        self._check_available()
        self.reads += 1
        listed = [self.staged_changes.get(view.id, view) for view in self.orders.values()]
        mine = [
            v
            for v in listed
            if (owner is None or v.customer_id == owner) and (status is None or v.status == status)
        ]
        ordered = sorted(mine, key=lambda view: view.position, reverse=True)
        if after is not None:
            ordered = [view for view in ordered if view.position < after]
        more = len(ordered) > limit
        return Page(ordered[:limit], ordered[limit - 1].position if more else None)

    def _check_available(self) -> None:
        if not self.available:
            raise ReadModelUnavailable("fake read model is away")


def _life_of(view: OrderView) -> dict[str, object]:
    return {
        "status": view.status,
        "version": view.version,
        "updated_at": view.updated_at,
        "tracking_number": view.tracking_number,
        "cancellation_reason": view.cancellation_reason,
    }


class FakeReadModelGenerations:
    """Generations of fake read models, and the pointer's changes for the rebuild, with the
    compare-and-set rules of MongoReadModelGenerations. `pointer` is what `current()` answers,
    at once: a caller that wants the MongoDB adapter's pointer TTL wraps `read` in a
    `PointerCache`."""

    def __init__(
        self,
        first: ReadModel | None = None,
        *,
        pointer_ttl_seconds: float = 0.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.models: dict[str, ReadModel] = {"": first or FakeReadModel()}
        self.pointer = Generations("")
        self.heartbeat: datetime | None = None
        self._ttl = pointer_ttl_seconds
        self._now = now

    @property
    def pointer_ttl_seconds(self) -> float:
        return self._ttl

    async def current(self) -> Generations:
        return self.pointer

    def model(self, generation: str) -> ReadModel:
        if generation not in self.models:
            self.models[generation] = FakeReadModel()
        return self.models[generation]

    # -- for the rebuild ------------------------------------------------------------------------

    async def read(self) -> Pointer:
        return Pointer(self.pointer.active, self.pointer.building, self.heartbeat)

    async def begin(self, generation: str, *, stale_after: timedelta) -> str | None:
        now = self._now()
        before = self.pointer
        if before.building is not None and not (
            self.heartbeat is not None and self.heartbeat < now - stale_after
        ):
            raise PointerMoved(
                f"another rebuild is building generation {before.building!r} "
                f"(last heartbeat {self.heartbeat}); wait for it to finish"
            )
        self.pointer = Generations(before.active, generation)
        self.heartbeat = now
        return before.building

    async def beat(self, generation: str) -> None:
        if self.pointer.building != generation:
            raise PointerMoved(f"generation {generation!r} is no longer the one being built")
        self.heartbeat = self._now()

    async def switch(self, generation: str) -> str:
        before = self.pointer
        if before.building != generation:
            raise PointerMoved(f"generation {generation!r} is no longer the one being built")
        self.pointer = Generations(generation)
        return before.active

    async def abandon(self, generation: str) -> None:
        if self.pointer.building == generation:
            self.pointer = Generations(self.pointer.active)
        await self.drop(generation)

    async def drop(self, generation: str) -> None:
        if self.pointer.active == generation:
            raise PointerMoved(f"generation {generation!r} is live; it is not dropped")
        self.models.pop(generation, None)

    async def count(self, generation: str) -> int:
        model = self.models.get(generation)
        if model is None:
            return 0
        assert isinstance(model, FakeReadModel), "count() needs the fake's own read models"
        return len(model.orders)


@dataclass
class _CacheState:
    """What every scope of one fake cache shares, as the scopes of RedisViewCache share Redis."""

    orders: dict[tuple[str, UUID], OrderView] = field(default_factory=dict)
    pages: dict[tuple[str, int, int, ListPosition | None, str | None, str | None], Page] = field(
        default_factory=dict
    )
    generation: int = 0
    available: bool = True
    # Like RedisViewCache: an invalidation asked for while away is paid on the next call
    # that finds the cache back, so lists cached before a projection never come back.
    invalidation_owed: bool = False


class FakeViewCache:
    """Keys are per read-model generation (`scoped`), as in RedisViewCache."""

    def __init__(self, state: _CacheState | None = None, scope: str = "") -> None:
        self._state = state or _CacheState()
        self.scope = scope

    def scoped(self, generation: str) -> FakeViewCache:
        return FakeViewCache(self._state, generation)

    @property
    def available(self) -> bool:
        return self._state.available

    @available.setter
    def available(self, value: bool) -> None:
        self._state.available = value

    @property
    def generation(self) -> int:
        return self._state.generation

    @property
    def orders(self) -> dict[UUID, OrderView]:
        """The orders cached under this scope's keys."""
        return {i: v for (scope, i), v in self._state.orders.items() if scope == self.scope}

    # RedisViewCache keeps final orders in the process too (they never change again): those
    # are answered whether Redis is there or not (the process's copy is not modelled apart).
    async def get_order(self, order_id: UUID) -> OrderView | None:
        reachable = self._reachable()
        view = self._state.orders.get((self.scope, order_id))
        return view if reachable or (view is not None and view.final) else None

    async def put_order(self, view: OrderView) -> None:
        if self._reachable() or view.final:
            self._keep_newer(view)

    async def add_orders(self, views: Sequence[OrderView]) -> None:
        if self._reachable():
            for view in views:
                self._state.orders.setdefault((self.scope, view.id), view)

    async def replace_order(self, view: OrderView) -> None:
        if not self._reachable():
            raise CacheUnavailable("fake cache is away")
        self._keep_newer(view)

    def _keep_newer(self, view: OrderView) -> None:
        cached = self._state.orders.get((self.scope, view.id))
        if cached is None or cached.version < view.version:
            self._state.orders[(self.scope, view.id)] = view

    async def list_generation(self) -> int | None:
        return self._state.generation if self._reachable() else None

    async def get_page(
        self,
        generation: int,
        limit: int,
        after: ListPosition | None,
        owner: str | None = None,
        status: str | None = None,
    ) -> Page | None:
        key = (self.scope, generation, limit, after, owner, status)
        return self._state.pages.get(key) if self._reachable() else None

    async def put_page(
        self,
        generation: int,
        limit: int,
        after: ListPosition | None,
        page: Page,
        owner: str | None = None,
        status: str | None = None,
    ) -> None:
        if self._reachable():
            self._state.pages[(self.scope, generation, limit, after, owner, status)] = page

    async def invalidate_lists(self) -> None:
        self._state.invalidation_owed = True
        self._reachable()

    def _reachable(self) -> bool:
        state = self._state
        if not state.available:
            return False
        if state.invalidation_owed:
            state.generation += 1
            state.invalidation_owed = False
        return True
