"""Queries with cache-aside: the cache answers when it can, the read model always can."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from order_platform.read_service.application.ports import Page, ReadModel, ViewCache
from order_platform.read_service.domain import ListPosition, OrderView


@dataclass(frozen=True, slots=True)
class GetOrder:
    read_model: ReadModel
    cache: ViewCache

    async def __call__(self, order_id: UUID) -> OrderView | None:
        if (cached := await self.cache.get_order(order_id)) is not None:
            return cached
        view = await self.read_model.get(order_id)
        if view is not None:  # an order never changes once projected; a miss is not cached
            await self.cache.put_order(view)
        return view


@dataclass(frozen=True, slots=True)
class ListOrders:
    read_model: ReadModel
    cache: ViewCache

    async def __call__(self, limit: int, after: ListPosition | None) -> Page:
        # Read the generation *before* the database: if a projection lands in between, this
        # answer is stored under the generation it already made obsolete.
        generation = await self.cache.list_generation()
        if generation is not None:
            cached = await self.cache.get_page(generation, limit, after)
            if cached is not None:
                return cached
        page = await self.read_model.page(limit, after)
        if generation is not None:
            await self.cache.put_page(generation, limit, after, page)
        return page
