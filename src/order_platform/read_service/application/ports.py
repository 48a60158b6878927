"""What the query side needs from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from order_platform.contracts.errors import Unavailable
from order_platform.read_service.domain import ListPosition, OrderChange, OrderView


class ReadModelUnavailable(Unavailable):
    """The read model's store cannot be reached; nothing was applied."""


class CacheUnavailable(Unavailable):
    """The cache cannot be told of a change (it might serve the order as it was): wait."""


@dataclass(frozen=True, slots=True)
class Page:
    orders: Sequence[OrderView]
    next_after: ListPosition | None  # None: this was the last page


@dataclass(frozen=True, slots=True)
class Staged:
    """Orders a `ReadModel` has stored and listed, not yet readable by id (`reveal`)."""

    batch_id: str
    # The orders this batch stored first (not those a redelivery found stored): nothing newer
    # of them can exist yet, so a cache may take them without asking the model again.
    stored: Sequence[OrderView] = ()


@dataclass(frozen=True, slots=True)
class StagedChanges:
    """Orders changed and listed as changed, not yet readable by id as changed
    (`reveal_changes`): each as it will read then. `released`: the parked changes (event
    ids) done with, unparked only once revealed, so that a stop in between leaves them to be
    released again by the creation's redelivery (the change's own event is long handled)."""

    views: Sequence[OrderView]
    released: Sequence[UUID] = ()


@dataclass(frozen=True, slots=True)
class ParkedChange:
    """A change that skips a version of its order: kept until the missing one is applied."""

    change: OrderChange
    waiting_for: int  # the version the order needs first


class ReadModel(Protocol):
    """Readable by id implies listed: `get` finds an order only once every list page that
    should hold it does, so whoever put a cache in front of the list can invalidate it in
    between (`stage`, invalidate, `reveal`)."""

    async def stage(self, views: Sequence[OrderView]) -> Staged:
        """Store new orders and list them, not readable by id yet; an order already stored
        stays exactly as it is (idempotent), and is readable once either batch is revealed."""
        ...

    async def reveal(self, staged: Staged) -> None:
        """Make the staged orders readable by id (idempotent)."""
        ...

    async def apply(self, views: Sequence[OrderView]) -> None:
        """`stage` then `reveal`, for a writer with no cache of this model to invalidate
        (a rebuild's generation before it goes live, tests)."""
        ...

    async def stage_changes(
        self, changes: Sequence[OrderChange], release_for: Sequence[UUID] = ()
    ) -> StagedChanges:
        """Apply, per order in version order, each change that follows the version stored
        (with the order's parked changes, and those of the orders `release_for`), listed as
        changed but not yet readable by id so (as `stage`). A change at or below the stored
        version changes nothing; one that skips a version is parked, with the order's later
        ones, until the missing one is applied. An order staged before and never revealed is
        staged again, so that a redelivery finishes what a crash left half done."""
        ...

    async def reveal_changes(self, staged: StagedChanges) -> None:
        """Make the staged changes readable by id, then unpark what they released
        (idempotent)."""
        ...

    async def catch_up(self, views: Sequence[OrderView]) -> None:
        """The rebuild's copy of orders already stored (`apply`): each order whose stored
        version is below its copy's takes the copy's state, and is listed under its status.
        A model being built is read by nobody yet: no staging, no cache."""
        ...

    async def parked(self, limit: int | None = None) -> list[ParkedChange]:
        """Every parked change, with the version each waits for; with `limit`, the first
        `limit` by order id and version."""
        ...

    async def parked_of(self, order_ids: Sequence[UUID]) -> list[ParkedChange]:
        """The parked changes of these orders, by order and version."""
        ...

    async def get(self, order_id: UUID) -> OrderView | None: ...

    async def page(
        self,
        limit: int,
        after: ListPosition | None,
        owner: str | None = None,
        status: str | None = None,
    ) -> Page:
        """Up to `limit` orders, newest first, strictly below `after` when given; only those
        placed by the customer `owner` when given (as fast as the whole list: no filter); only
        those whose current status is `status` when given."""
        ...

    async def projected(self, order_id: UUID) -> tuple[OrderView, datetime | None] | None:
        """The order and when it was first stored here (readable: None if not recorded, as
        for orders stored before this was); None if it is not readable by id (yet)."""
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
    """A cache that may be away: every method but `replace_order` degrades to "miss" or "no-op"
    instead of raising.

    Orders and pages are kept per read-model generation (`scoped`): after a switch, nothing
    cached from the previous generation is found. The list generation counter is shared.
    """

    def scoped(self, generation: str) -> ViewCache:
        """The same cache, keyed for the read model's `generation`."""
        ...

    async def get_order(self, order_id: UUID) -> OrderView | None: ...

    async def put_order(self, view: OrderView) -> None:
        """Keep the order as a reader found it, unless a newer version of it is kept."""
        ...

    async def add_orders(self, views: Sequence[OrderView]) -> None:
        """Keep orders just stored for the first time (their first reads then find them here),
        each unless anything of it is kept already; best effort, in one round trip."""
        ...

    async def replace_order(self, view: OrderView) -> None:
        """The order as just changed: kept unless a newer version is; from now on no older
        version of it is served. Raises `CacheUnavailable` when that cannot be ensured (this
        method alone raises: a projection waits for the cache rather than leave it stale)."""
        ...

    async def list_generation(self) -> int | None:
        """The current generation of list answers; None when the cache is unavailable."""
        ...

    async def get_page(
        self,
        generation: int,
        limit: int,
        after: ListPosition | None,
        owner: str | None = None,
        status: str | None = None,
    ) -> Page | None:
        """A cached page of the whole list, or of `owner`'s orders only, or of those in
        `status` only."""
        ...

    async def put_page(
        self,
        generation: int,
        limit: int,
        after: ListPosition | None,
        page: Page,
        owner: str | None = None,
        status: str | None = None,
    ) -> None: ...

    async def invalidate_lists(self) -> None:
        """Make every cached list answer unreachable (a new generation)."""
        ...
