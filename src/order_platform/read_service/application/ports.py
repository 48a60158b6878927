"""What the query side needs from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from order_platform.read_service.domain import ListPosition, OrderView


class ReadModelUnavailable(Exception):
    """The read model's store cannot be reached; nothing was applied."""


@dataclass(frozen=True, slots=True)
class Page:
    orders: Sequence[OrderView]
    next_after: ListPosition | None  # None: this was the last page


class ReadModel(Protocol):
    async def apply(self, views: Sequence[OrderView]) -> None:
        """Store new orders; an order already stored stays exactly as it is (idempotent)."""
        ...

    async def get(self, order_id: UUID) -> OrderView | None: ...

    async def page(self, limit: int, after: ListPosition | None, owner: str | None = None) -> Page:
        """Up to `limit` orders, newest first, strictly below `after` when given; only those
        placed by the customer `owner` when given (as fast as the whole list: no filter)."""
        ...

    async def projected(self, order_id: UUID) -> tuple[OrderView, datetime | None] | None:
        """The order and when it was first stored here (readable: None if not recorded, as
        for orders stored before this was); None if it is not here."""
        ...


@dataclass(frozen=True, slots=True)
class Generations:
    """Which generation of the read model serves reads, and which one a rebuild is filling."""

    active: str
    building: str | None = None

    @property
    def written(self) -> tuple[str, ...]:
        """Where projections go: the live one, and during a rebuild the one being built too, so
        that events arriving during the rebuild are in the new model when it goes live."""
        if self.building is None or self.building == self.active:
            return (self.active,)
        return (self.active, self.building)


class ReadModelGenerations(Protocol):
    async def current(self) -> Generations:
        """The generations as of at most a moment ago (the pointer may be cached briefly)."""
        ...

    def model(self, generation: str) -> ReadModel: ...


class ViewCache(Protocol):
    """A cache that may be away: every method degrades to "miss" or "no-op" instead of raising.

    Orders and pages are kept per read-model generation (`scoped`): after a switch, nothing
    cached from the previous generation is found. The list generation counter is shared.
    """

    def scoped(self, generation: str) -> ViewCache:
        """The same cache, keyed for the read model's `generation`."""
        ...

    async def get_order(self, order_id: UUID) -> OrderView | None: ...

    async def put_order(self, view: OrderView) -> None: ...

    async def list_generation(self) -> int | None:
        """The current generation of list answers; None when the cache is unavailable."""
        ...

    async def get_page(
        self, generation: int, limit: int, after: ListPosition | None, owner: str | None = None
    ) -> Page | None:
        """A cached page of the whole list, or of `owner`'s orders only."""
        ...

    async def put_page(
        self,
        generation: int,
        limit: int,
        after: ListPosition | None,
        page: Page,
        owner: str | None = None,
    ) -> None: ...

    async def invalidate_lists(self) -> None:
        """Make every cached list answer unreachable (a new generation)."""
        ...
