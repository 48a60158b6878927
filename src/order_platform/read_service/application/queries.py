"""Queries with cache-aside: the cache answers when it can, the read model always can.

Each query resolves the live generation once and uses it for both the model and the cache's
keys: an answer read from one generation is never cached under another's keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from order_platform.read_service.application.ports import (
    Page,
    ParkedChange,
    ReadModel,
    ReadModelGenerations,
    ViewCache,
)
from order_platform.read_service.domain import ListPosition, OrderView


async def live(generations: ReadModelGenerations, cache: ViewCache) -> tuple[ReadModel, ViewCache]:
    active = (await generations.current()).active
    return generations.model(active), cache.scoped(active)


@dataclass(frozen=True, slots=True)
class GetOrder:
    generations: ReadModelGenerations
    root_cache: ViewCache

    async def __call__(self, order_id: UUID, owner: str | None = None) -> OrderView | None:
        """The order; with `owner`, only if that customer placed it (None otherwise, exactly
        as for an unknown order: whether someone else's order exists is not revealed)."""
        view = await self._find(order_id)
        if view is None or (owner is not None and view.customer_id != owner):
            return None
        return view

    async def _find(self, order_id: UUID) -> OrderView | None:
        read_model, cache = await live(self.generations, self.root_cache)
        if (cached := await cache.get_order(order_id)) is not None:
            return cached
        view = await read_model.get(order_id)
        if view is not None:  # an order never changes once projected; a miss is not cached
            await cache.put_order(view)
        return view


@dataclass(frozen=True, slots=True)
class ListOrders:
    generations: ReadModelGenerations
    root_cache: ViewCache

    async def __call__(
        self,
        limit: int,
        after: ListPosition | None,
        owner: str | None = None,
        status: str | None = None,
    ) -> Page:
        """Newest first: every order, or only those the customer `owner` placed; only those
        in `status` when given."""
        read_model, cache = await live(self.generations, self.root_cache)
        # Read the generation *before* the database: if a projection lands in between, this
        # answer is stored under the generation it already made obsolete.
        generation = await cache.list_generation()
        if generation is not None:
            cached = await cache.get_page(generation, limit, after, owner, status)
            if cached is not None:
                return cached
        page = await read_model.page(limit, after, owner, status)
        if generation is not None:
            await cache.put_page(generation, limit, after, page, owner, status)
        return page


@dataclass(frozen=True, slots=True)
class ProjectionTimes:
    """When orders became readable in the live generation (for the operator console): never
    cached, since a miss turns into a time as soon as the projection gets there."""

    generations: ReadModelGenerations

    async def __call__(
        self, order_ids: Sequence[UUID]
    ) -> dict[UUID, tuple[OrderView, datetime | None]]:
        read_model = self.generations.model((await self.generations.current()).active)
        found = await asyncio.gather(*map(read_model.projected, order_ids))
        return {
            order_id: projected
            for order_id, projected in zip(order_ids, found, strict=True)
            if projected is not None
        }

    async def parked(self, order_ids: Sequence[UUID]) -> list[ParkedChange]:
        """These orders' changes parked in the live generation, waiting for a missing one."""
        read_model = self.generations.model((await self.generations.current()).active)
        return await read_model.parked_of(order_ids)
