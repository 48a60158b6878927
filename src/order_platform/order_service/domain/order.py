"""The `Order` aggregate: an order that exists is a valid order, in one status of its life.

    placed --confirm--> confirmed --ship--> shipped
    placed or confirmed --cancel--> cancelled          (shipped and cancelled are final)

Each transition adds one to `version` and records its event; a command not allowed from the
current status changes nothing and says what is allowed instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Final
from uuid import UUID

from order_platform.contracts.money import InvalidAmount, in_cents
from order_platform.contracts.user_text import (
    MAX_CUSTOMER_NAME_LENGTH,
    code_point,
    first_control_character,
)
from order_platform.order_service.domain.errors import InvalidOrderField, TransitionNotAllowed

MAX_REASON_LENGTH: Final = 500  # code points, after trimming
MAX_TRACKING_NUMBER_LENGTH: Final = 100


class OrderStatus(StrEnum):
    PLACED = "placed"
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


class Command(StrEnum):
    CONFIRM = "confirm"
    SHIP = "ship"
    CANCEL = "cancel"


# The whole state machine: what each status allows, and where each command leads.
ALLOWED: Final[dict[OrderStatus, tuple[Command, ...]]] = {
    OrderStatus.PLACED: (Command.CONFIRM, Command.CANCEL),
    OrderStatus.CONFIRMED: (Command.SHIP, Command.CANCEL),
    OrderStatus.SHIPPED: (),
    OrderStatus.CANCELLED: (),
}
LEADS_TO: Final[dict[Command, OrderStatus]] = {
    Command.CONFIRM: OrderStatus.CONFIRMED,
    Command.SHIP: OrderStatus.SHIPPED,
    Command.CANCEL: OrderStatus.CANCELLED,
}


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


def valid_optional_text(field_name: str, raw: str | None, max_length: int) -> str | None:
    """A reason or a tracking number: absent stays absent; given, the customer name's rules
    (no control character, trimmed, not empty or only spaces) and at most `max_length`."""
    if raw is None:
        return None
    if (control := first_control_character(raw)) is not None:
        raise InvalidOrderField(
            field_name, f"must not contain control characters (found {code_point(control)})"
        )
    text = raw.strip()
    if not text:
        raise InvalidOrderField(field_name, "must not be empty or only whitespace")
    if len(text) > max_length:
        raise InvalidOrderField(
            field_name, f"must be at most {max_length} characters, got {len(text)}"
        )
    return text


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


@dataclass(frozen=True, slots=True)
class OrderConfirmed:
    event_id: UUID
    order_id: UUID
    order_version: int
    occurred_at: datetime
    customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderShipped:
    event_id: UUID
    order_id: UUID
    order_version: int
    occurred_at: datetime
    tracking_number: str | None = None
    customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderCancelled:
    event_id: UUID
    order_id: UUID
    order_version: int
    occurred_at: datetime
    reason: str | None = None
    customer_id: str | None = None


OrderEvent = OrderCreated | OrderConfirmed | OrderShipped | OrderCancelled


@dataclass(eq=False, slots=True)
class Order:
    id: UUID
    customer_name: str
    total_amount: Decimal
    created_at: datetime
    # Who placed it (the token's `sub`); None when it was placed with authentication off.
    customer_id: str | None = None
    status: OrderStatus = OrderStatus.PLACED
    version: int = 1  # 1 when placed, one more per transition
    updated_at: datetime | None = None  # the last transition's time; None: never changed
    tracking_number: str | None = None
    cancellation_reason: str | None = None
    events: list[OrderEvent] = field(default_factory=list, repr=False)

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

    @property
    def allowed(self) -> tuple[Command, ...]:
        """The commands this order's status allows."""
        return ALLOWED[self.status]

    def confirm(self, *, event_id: UUID, now: datetime) -> OrderConfirmed:
        self._move(Command.CONFIRM, now)
        return self._record(
            OrderConfirmed(event_id, self.id, self.version, now, customer_id=self.customer_id)
        )

    def ship(
        self, *, event_id: UUID, now: datetime, tracking_number: str | None = None
    ) -> OrderShipped:
        tracking = valid_optional_text(
            "tracking_number", tracking_number, MAX_TRACKING_NUMBER_LENGTH
        )
        self._move(Command.SHIP, now)
        self.tracking_number = tracking
        return self._record(
            OrderShipped(
                event_id, self.id, self.version, now, tracking, customer_id=self.customer_id
            )
        )

    def cancel(self, *, event_id: UUID, now: datetime, reason: str | None = None) -> OrderCancelled:
        why = valid_optional_text("reason", reason, MAX_REASON_LENGTH)
        self._move(Command.CANCEL, now)
        self.cancellation_reason = why
        return self._record(
            OrderCancelled(event_id, self.id, self.version, now, why, customer_id=self.customer_id)
        )

    def _move(self, command: Command, now: datetime) -> None:
        """Check, then change: a refused command (or invalid input, checked before) leaves the
        order as it was."""
        if command not in ALLOWED[self.status]:
            raise TransitionNotAllowed(command, self.status, ALLOWED[self.status])
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.status = LEADS_TO[command]
        self.version += 1
        self.updated_at = now

    def _record[E: OrderEvent](self, event: E) -> E:
        self.events.append(event)
        return event

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Order) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)
