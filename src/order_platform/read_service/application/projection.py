"""Projecting `OrderCreated`: listed first, cached lists invalidated, then readable by id."""

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
        models = [self.generations.model(g) for g in (await self.generations.current()).written]
        # Readable by id means listed: first the list, then the cached pages it makes stale,
        # and only then the orders by id. A reader that loaded the list before it was written
        # stores its answer under the generation invalidated here, where no reader looks that
        # came after an order was readable by id. Three steps per batch, not per order.
        staged = [await model.stage(views) for model in models]
        await self.cache.invalidate_lists()
        for model, batch in zip(models, staged, strict=True):
            await model.reveal(batch)
