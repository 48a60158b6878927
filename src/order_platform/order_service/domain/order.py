"""The `Order` aggregate: an order that exists is a valid order."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from order_platform.contracts.money import InvalidAmount, in_cents
from order_platform.contracts.user_text import (
    MAX_CUSTOMER_NAME_LENGTH,
    code_point,
    first_control_character,
)
from order_platform.order_service.domain.errors import InvalidOrderField


def valid_customer_name(raw: str) -> str:
    """No control character anywhere (checked before trimming, so a trailing newline is
    refused too); trim; then 1 to 200 characters (code points, so "Zoë 李" is 5)."""
    if (control := first_control_character(raw)) is not None:
        raise InvalidOrderField(
            "customer_name", f"must not contain control characters (found {code_point(control)})"
        )
    name = raw.strip()
    if not name:
        raise InvalidOrderField("customer_name", "must not be empty or only whitespace")
    if len(name) > MAX_CUSTOMER_NAME_LENGTH:
        raise InvalidOrderField(
            "customer_name",
            f"must be at most {MAX_CUSTOMER_NAME_LENGTH} characters, got {len(name)}",
        )
    return name


def valid_total_amount(raw: Decimal) -> Decimal:
    """Money in cents: finite, > 0, at most 2 decimal places and at most 1,000,000,000."""
    try:
        return in_cents(raw)
    except InvalidAmount as why:
        raise InvalidOrderField("total_amount", str(why)) from None


@dataclass(frozen=True, slots=True)
class OrderCreated:
    """Domain event: recorded by the aggregate, turned into an integration event on commit."""

    event_id: UUID
    order_id: UUID
    customer_name: str
    total_amount: Decimal
    created_at: datetime
    customer_id: str | None = None


@dataclass(eq=False, slots=True)
class Order:
    id: UUID
    customer_name: str
    total_amount: Decimal
    created_at: datetime
    # Who placed it (the token's `sub`); None when it was placed with authentication off.
    customer_id: str | None = None
    events: list[OrderCreated] = field(default_factory=list, repr=False)

    @classmethod
    def create(
        cls,
        *,
        order_id: UUID,
        event_id: UUID,
        customer_name: str,
        total_amount: Decimal,
        now: datetime,
        customer_id: str | None = None,
    ) -> Order:
        """The only way a new order comes to be: validated, with its `OrderCreated` recorded."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        order = cls(
            id=order_id,
            customer_name=valid_customer_name(customer_name),
            total_amount=valid_total_amount(total_amount),
            created_at=now,
            customer_id=customer_id,
        )
        order.events.append(
            OrderCreated(
                event_id=event_id,
                order_id=order.id,
                customer_name=order.customer_name,
                total_amount=order.total_amount,
                created_at=order.created_at,
                customer_id=order.customer_id,
            )
        )
        return order

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Order) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)
