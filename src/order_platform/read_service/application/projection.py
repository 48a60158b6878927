"""Projecting `OrderCreated` into the read model, then invalidating cached lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from order_platform.read_service.application.ports import ReadModelGenerations, ViewCache
from order_platform.read_service.domain import OrderView


@dataclass(frozen=True, slots=True)
class ProjectOrders:
    generations: ReadModelGenerations
    cache: ViewCache

    async def __call__(self, views: Sequence[OrderView]) -> None:
        if not views:
            return
        # The live generation and, while a rebuild runs, the one it builds: an event arriving
        # mid-rebuild is in the new model when it goes live. Both writes are idempotent per
        # order, so the copy and the projection may meet an order in either order.
        for generation in (await self.generations.current()).written:
            await self.generations.model(generation).apply(views)
        # After the write is durable: a reader that loaded the list before it and stores its
        # answer now stores it under the old generation, where no later reader looks.
        await self.cache.invalidate_lists()
