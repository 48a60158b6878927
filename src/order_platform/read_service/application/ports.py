"""What the query side needs from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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

    async def page(self, limit: int, after: ListPosition | None) -> Page:
        """Up to `limit` orders, newest first, strictly below `after` when given."""
        ...


class ViewCache(Protocol):
    """A cache that may be away: every method degrades to "miss" or "no-op" instead of raising."""

    async def get_order(self, order_id: UUID) -> OrderView | None: ...

    async def put_order(self, view: OrderView) -> None: ...

    async def list_generation(self) -> int | None:
        """The current generation of list answers; None when the cache is unavailable."""
        ...

    async def get_page(
        self, generation: int, limit: int, after: ListPosition | None
    ) -> Page | None: ...

    async def put_page(
        self, generation: int, limit: int, after: ListPosition | None, page: Page
    ) -> None: ...

    async def invalidate_lists(self) -> None:
        """Make every cached list answer unreachable (a new generation)."""
        ...
