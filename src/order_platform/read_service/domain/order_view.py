"""The read model's order: immutable once projected, listed newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID


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
    event_id: UUID
    customer_id: str | None = None  # who placed it (the token's `sub`); None with auth off

    @property
    def position(self) -> ListPosition:
        return ListPosition(self.created_at, self.id)
