"""What the customer is told about an order, one kind per order event: who, which order, what.

Each kind has its `line` (the log sender's text, a contract operators grep for: docs/design.md,
"Order lifecycle") and its `message` (what a webhook's receiver shows the customer). A
transition's event does not carry the customer's name: the notifier fills it in from the
order's creation, and when it never saw that creation (an order created before the notifier
remembered names, or one whose record outlived the retention) the name is `None` and the line
shows `-`, as it does for a missing tracking number or reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

from order_platform.contracts.money import CENT

UNKNOWN = "-"  # what a line shows for a name, tracking number or reason it does not have


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One notification per order event; `event_id` is what makes sending it idempotent, and
    `order_version` (1 for the creation, one more per transition) what orders an order's."""

    event_type: ClassVar[str]

    event_id: UUID
    order_id: UUID
    order_version: int
    customer_name: str | None

    def __post_init__(self) -> None:
        if self.order_version < 1:
            raise ValueError("an order's versions start at 1")
        if self.customer_name == "":
            raise ValueError("a recipient's name is a name or unknown (None), never empty")

    @property
    def line(self) -> str:
        """The one log line of this notification."""
        raise NotImplementedError

    @property
    def message(self) -> str:
        """What the customer reads."""
        raise NotImplementedError

    @property
    def _greeting(self) -> str:
        return f"Hi {self.customer_name}" if self.customer_name else "Hi"


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCreatedNotification(Notification):
    event_type: ClassVar[str] = "OrderCreated"

    customer_name: str
    total_amount: Decimal
    order_version: int = 1

    def __post_init__(self) -> None:
        if not self.customer_name:
            raise ValueError("a notification needs a recipient")
        if self.order_version != 1:
            raise ValueError("an order is created at version 1")
        if not self.total_amount.is_finite() or self.total_amount <= 0:
            raise ValueError("the total must be a positive amount")

    @property
    def total_text(self) -> str:
        """Dollars with exactly two decimals (`$199.90`), rounded to cents, never via float."""
        return f"${self.total_amount.quantize(CENT)}"

    @property
    def line(self) -> str:
        return (
            f"📩 Notification sent to {self.customer_name} | "
            f"Order: {self.order_id} | Total: {self.total_text}"
        )

    @property
    def message(self) -> str:
        return (
            f"Hi {self.customer_name}, we received your order {self.order_id}. "
            f"Total: {self.total_text}."
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderConfirmedNotification(Notification):
    event_type: ClassVar[str] = "OrderConfirmed"

    customer_name: str | None = None

    @property
    def line(self) -> str:
        return f"✅ Order {self.order_id} confirmed | {self.customer_name or UNKNOWN}"

    @property
    def message(self) -> str:
        return f"{self._greeting}, your order {self.order_id} is confirmed."


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderShippedNotification(Notification):
    event_type: ClassVar[str] = "OrderShipped"

    customer_name: str | None = None
    tracking_number: str | None = None

    @property
    def line(self) -> str:
        return (
            f"📦 Order {self.order_id} shipped to {self.customer_name or UNKNOWN} | "
            f"Tracking: {self.tracking_number or UNKNOWN}"
        )

    @property
    def message(self) -> str:
        tracking = f" Tracking: {self.tracking_number}." if self.tracking_number else ""
        return f"{self._greeting}, your order {self.order_id} has shipped.{tracking}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelledNotification(Notification):
    event_type: ClassVar[str] = "OrderCancelled"

    customer_name: str | None = None
    reason: str | None = None

    @property
    def line(self) -> str:
        return f"❌ Order {self.order_id} cancelled | Reason: {self.reason or UNKNOWN}"

    @property
    def message(self) -> str:
        reason = f" Reason: {self.reason}." if self.reason else ""
        return f"{self._greeting}, your order {self.order_id} was cancelled.{reason}"
