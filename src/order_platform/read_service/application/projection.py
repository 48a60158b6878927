"""Projecting an order's events: creations listed first, cached lists invalidated, then
readable by id; changes the same way, each order's in version order (`ReadModel.stage_changes`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from order_platform.read_service.application.ports import ReadModelGenerations, ViewCache
from order_platform.read_service.domain import OrderChange, OrderView


@dataclass(frozen=True, slots=True)
class ProjectOrders:
    generations: ReadModelGenerations
    cache: ViewCache

    async def __call__(
        self, views: Sequence[OrderView], changes: Sequence[OrderChange] = ()
    ) -> None:
        if not views and not changes:
            return
        generations = await self.generations.current()
        # The live generation and, while a rebuild runs, the one it builds: an event arriving
        # mid-rebuild is in the new model when it goes live. Both writes are idempotent per
        # order, so the copy and the projection may meet an order in either order.
        models = [self.generations.model(g) for g in generations.written]
        if views:
            # Readable by id means listed: first the list, then the cached pages it makes
            # stale, and only then the orders by id. A reader that loaded the list before it
            # was written stores its answer under the generation invalidated here, where no
            # reader looks that came after an order was readable by id. Three steps per batch.
            staged = [await model.stage(views) for model in models]
            await self.cache.invalidate_lists()
            for model, batch in zip(models, staged, strict=True):
                await model.reveal(batch)
            # First reads are the slow ones (a miss, the model, a put): the live generation's
            # new orders go to the cache now. A redelivery's are not among them, so an order
            # changed since is never put back as it was placed.
            await self.cache.scoped(generations.active).add_orders(staged[0].stored)
        # Changes the same way, after the creations they may have waited for (parked); and
        # before an order reads as changed by id, the cache holds it so: no reader is served
        # its older version after that, from Redis or from MongoDB.
        release_for = [view.id for view in views]
        changed = [await model.stage_changes(changes, release_for) for model in models]
        if any(batch.views for batch in changed):
            await self.cache.invalidate_lists()
            live = self.cache.scoped(generations.active)
            for view in changed[0].views:  # the live generation's
                await live.replace_order(view)
        # Also with nothing to reveal: a parked change found applied already leaves the park.
        for model, changes_staged in zip(models, changed, strict=True):
            await model.reveal_changes(changes_staged)
