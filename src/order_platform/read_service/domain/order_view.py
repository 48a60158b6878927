"""The read model's order: projected from its events, listed newest first.

An order moves on (placed, confirmed, shipped or cancelled: `OrderChange`), each change one
version more; its place in the list is its creation's and never moves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Final
from uuid import UUID

PLACED: Final = "placed"
FINAL_STATUSES: Final = frozenset({"shipped", "cancelled"})


@dataclass(frozen=True, slots=True, order=True)
class ListPosition:
    """Where an order stands in the list: by creation time, ties broken by id.

    Listing is newest first, so a page continues with the positions *below* its last one.
    Orders projected later with a newer position never shift a walk already under way.
    """

    created_at: datetime
    order_id: UUID


@dataclass(frozen=True, slots=True)
class OrderView:
    id: UUID
    customer_name: str
    total_amount: Decimal
    created_at: datetime
    event_id: UUID  # of its creation
    customer_id: str | None = None  # who placed it (the token's `sub`); None with auth off
    status: str = PLACED
    version: int = 1  # 1 when placed, one more per change
    updated_at: datetime | None = None  # the last change's time; None: never changed
    tracking_number: str | None = None
    cancellation_reason: str | None = None

    @property
    def position(self) -> ListPosition:
        return ListPosition(self.created_at, self.id)

    @property
    def final(self) -> bool:
        """Shipped or cancelled: it never changes again (so a copy of it is never stale)."""
        return self.status in FINAL_STATUSES


@dataclass(frozen=True, slots=True)
class OrderChange:
    """One transition of an order, as its event tells it: the order at `version` after it."""

    event_id: UUID
    order_id: UUID
    version: int
    status: str
    at: datetime
    tracking_number: str | None = None
    cancellation_reason: str | None = None

    def applied_to(self, view: OrderView) -> OrderView:
        return replace(
            view,
            status=self.status,
            version=self.version,
            updated_at=self.at,
            tracking_number=self.tracking_number or view.tracking_number,
            cancellation_reason=self.cancellation_reason or view.cancellation_reason,
        )
