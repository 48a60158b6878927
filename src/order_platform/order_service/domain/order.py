"""The `Order` aggregate: an order that exists is a valid order."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from uuid import UUID

from order_platform.order_service.domain.errors import InvalidOrderField

MAX_NAME_LENGTH = 200
MAX_TOTAL_AMOUNT = Decimal(1_000_000_000)
CENT = Decimal("0.01")
# C0 controls (tab, newline, CR and ESC among them), DEL, C1 controls, and the Unicode line and
# paragraph separators: a name is data, and none of these belongs in one; each could break a
# log line, a terminal or a message apart. Nor a lone UTF-16 surrogate (valid as a JSON escape,
# "\ud800"): no UTF-8 encoder takes it, so the order could be neither stored nor published.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def valid_customer_name(raw: str) -> str:
    """No control character anywhere (checked before trimming, so a trailing newline is
    refused too); trim; then 1 to 200 characters (code points, so "Zoë 李" is 5)."""
    if (control := CONTROL_CHARACTERS.search(raw)) is not None:
        raise InvalidOrderField(
            "customer_name",
            f"must not contain control characters (found U+{ord(control.group()):04X})",
        )
    name = raw.strip()
    if not name:
        raise InvalidOrderField("customer_name", "must not be empty or only whitespace")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidOrderField(
            "customer_name", f"must be at most {MAX_NAME_LENGTH} characters, got {len(name)}"
        )
    return name


def valid_total_amount(raw: Decimal) -> Decimal:
    """Money in cents: finite, > 0, at most 2 decimal places and at most 1,000,000,000."""
    if not raw.is_finite():
        raise InvalidOrderField("total_amount", "must be a finite number")
    if raw <= 0:
        raise InvalidOrderField("total_amount", "must be greater than 0")
    if raw > MAX_TOTAL_AMOUNT:
        raise InvalidOrderField("total_amount", "must be at most 1000000000")
    try:
        cents = raw.quantize(CENT)
    except InvalidOperation:  # more digits than the context can hold
        raise InvalidOrderField("total_amount", "has too many digits") from None
    if cents != raw:
        raise InvalidOrderField("total_amount", "must have at most 2 decimal places")
    return cents


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
