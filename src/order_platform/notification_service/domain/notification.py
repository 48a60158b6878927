"""The `Notification` the customer gets for an order: who, which order, how much."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from order_platform.contracts.money import CENT


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification per order; `event_id` is what makes sending it idempotent."""

    event_id: UUID
    order_id: UUID
    customer_name: str
    total_amount: Decimal

    def __post_init__(self) -> None:
        if not self.customer_name:
            raise ValueError("a notification needs a recipient")
        if not self.total_amount.is_finite() or self.total_amount <= 0:
            raise ValueError("the total must be a positive amount")

    @property
    def total_text(self) -> str:
        """Dollars with exactly two decimals (`$199.90`), rounded to cents, never via float."""
        return f"${self.total_amount.quantize(CENT)}"

    @property
    def message(self) -> str:
        """What the customer reads."""
        return (
            f"Hi {self.customer_name}, we received your order {self.order_id}. "
            f"Total: {self.total_text}."
        )
