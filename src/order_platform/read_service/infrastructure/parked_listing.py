"""The read service's side of `order-platform dlq list`: the changes its projection parked in
the live generation of the read model (built by its bootstrap, read through `ReadModel.parked`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from order_platform.contracts.parked_events import (
    ParkedEvent,
    ParkedListing,
    ParkedStoreUnavailable,
)
from order_platform.read_service.application.ports import (
    ParkedChange,
    ReadModelGenerations,
    ReadModelUnavailable,
)

EVENT_TYPES = {
    "confirmed": "OrderConfirmed",
    "shipped": "OrderShipped",
    "cancelled": "OrderCancelled",
}


class ReadModelParkedEvents:
    """`ParkedEvents` of the read service's consumer group."""

    def __init__(
        self,
        generations: ReadModelGenerations,
        *,
        where: str,
        close: Callable[[], Awaitable[None]],
    ) -> None:
        self._generations = generations
        self._close = close
        self.where = where

    async def parked(self, limit: int) -> ParkedListing:
        try:
            live = (await self._generations.current()).active
            found = await self._generations.model(live).parked(limit + 1)
        except ReadModelUnavailable as error:
            raise ParkedStoreUnavailable(
                f"cannot read the parked events from the read model's MongoDB at {self.where}"
            ) from error
        return ParkedListing([parked_event(p) for p in found[:limit]], len(found) <= limit)

    async def close(self) -> None:
        await self._close()


def parked_event(parked: ParkedChange) -> ParkedEvent:
    change = parked.change
    return ParkedEvent(
        order_id=change.order_id,
        version=change.version,
        waiting_for=parked.waiting_for,
        event_id=change.event_id,
        event_type=EVENT_TYPES.get(change.status),
    )
