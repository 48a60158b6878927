"""Hand-written fakes of the query side's ports."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from order_platform.read_service.application.ports import Page, ReadModelUnavailable
from order_platform.read_service.domain import ListPosition, OrderView


class FakeReadModel:
    def __init__(self) -> None:
        self.orders: dict[UUID, OrderView] = {}
        self.reads = 0
        self.available = True  # False: every call raises, as MongoReadModel does when away

    async def apply(self, views: Sequence[OrderView]) -> None:
        self._check_available()
        for view in views:
            self.orders.setdefault(view.id, view)

    async def get(self, order_id: UUID) -> OrderView | None:
        self._check_available()
        self.reads += 1
        return self.orders.get(order_id)

    async def page(self, limit: int, after: ListPosition | None) -> Page:
        self._check_available()
        self.reads += 1
        ordered = sorted(self.orders.values(), key=lambda view: view.position, reverse=True)
        if after is not None:
            ordered = [view for view in ordered if view.position < after]
        more = len(ordered) > limit
        return Page(ordered[:limit], ordered[limit - 1].position if more else None)

    def _check_available(self) -> None:
        if not self.available:
            raise ReadModelUnavailable("fake read model is away")


class FakeViewCache:
    def __init__(self) -> None:
        self.orders: dict[UUID, OrderView] = {}
        self.pages: dict[tuple[int, int, ListPosition | None], Page] = {}
        self.generation = 0
        self.available = True
        # Like RedisViewCache: an invalidation asked for while away is paid on the next call
        # that finds the cache back, so lists cached before a projection never come back.
        self._invalidation_owed = False

    async def get_order(self, order_id: UUID) -> OrderView | None:
        return self.orders.get(order_id) if self._reachable() else None

    async def put_order(self, view: OrderView) -> None:
        if self._reachable():
            self.orders[view.id] = view

    async def list_generation(self) -> int | None:
        return self.generation if self._reachable() else None

    async def get_page(
        self, generation: int, limit: int, after: ListPosition | None
    ) -> Page | None:
        return self.pages.get((generation, limit, after)) if self._reachable() else None

    async def put_page(
        self, generation: int, limit: int, after: ListPosition | None, page: Page
    ) -> None:
        if self._reachable():
            self.pages[(generation, limit, after)] = page

    async def invalidate_lists(self) -> None:
        self._invalidation_owed = True
        self._reachable()

    def _reachable(self) -> bool:
        if not self.available:
            return False
        if self._invalidation_owed:
            self.generation += 1
            self._invalidation_owed = False
        return True
