"""The notifier's side of `order-platform dlq list`: the events parked in the orders' progress
records in Redis (built by its bootstrap, read through `RedisOrderProgress.with_parked`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol
from uuid import UUID

from order_platform.contracts.parked_events import (
    ParkedEvent,
    ParkedListing,
    ParkedStoreUnavailable,
)
from order_platform.notification_service.application.ports import LedgerUnavailable
from order_platform.notification_service.domain import OrderProgress

# Records read at most per listing: every order of the retention has one, most park nothing.
SCAN_AT_MOST = 100_000


class OrdersWithParked(Protocol):
    """`RedisOrderProgress`, or the tests' fake of it."""

    async def with_parked(
        self, *, limit: int, scan_at_most: int
    ) -> tuple[list[tuple[UUID, OrderProgress]], bool]:
        """Orders with parked events (at most `limit`, after reading at most `scan_at_most`
        records) and whether that was all; raises `LedgerUnavailable`."""
        ...


class NotifierParkedEvents:
    """`ParkedEvents` of the notification service's consumer group."""

    def __init__(
        self,
        orders: OrdersWithParked,
        *,
        where: str,
        close: Callable[[], Awaitable[None]],
        scan_at_most: int = SCAN_AT_MOST,
    ) -> None:
        self._orders = orders
        self._close = close
        self._scan_at_most = scan_at_most
        self.where = where

    async def parked(self, limit: int) -> ParkedListing:
        """At most `limit` events (whole orders' worth may be cut at the end)."""
        try:
            found, complete = await self._orders.with_parked(
                limit=limit, scan_at_most=self._scan_at_most
            )
        except LedgerUnavailable as error:
            raise ParkedStoreUnavailable(
                f"cannot read the parked events from the notifier's Redis at {self.where}"
            ) from error
        events = sorted(
            (event for order_id, progress in found for event in parked_events(order_id, progress)),
            key=lambda event: (str(event.order_id), event.version),
        )
        return ParkedListing(events[:limit], complete and len(events) <= limit)

    async def close(self) -> None:
        await self._close()


def parked_events(order_id: UUID, progress: OrderProgress) -> list[ParkedEvent]:
    return [
        ParkedEvent(
            order_id=order_id,
            version=version,
            waiting_for=progress.waiting_for,
            event_id=notification.event_id,
            event_type=notification.event_type,
        )
        for version, notification in sorted(progress.parked.items())
    ]
