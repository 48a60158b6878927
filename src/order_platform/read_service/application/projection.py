"""Projecting `OrderCreated` into the read model, then invalidating cached lists."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from order_platform.read_service.application.ports import ReadModel, ViewCache
from order_platform.read_service.domain import OrderView


@dataclass(frozen=True, slots=True)
class ProjectOrders:
    read_model: ReadModel
    cache: ViewCache

    async def __call__(self, views: Sequence[OrderView]) -> None:
        if not views:
            return
        await self.read_model.apply(views)
        # After the write is durable: a reader that loaded the list before it and stores its
        # answer now stores it under the old generation, where no later reader looks.
        await self.cache.invalidate_lists()
