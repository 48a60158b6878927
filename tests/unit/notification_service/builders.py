"""Notifications and order events of one order's life, for the notifier's tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID, uuid4

from order_platform.contracts.order_events import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderShippedV1,
)
from order_platform.notification_service.domain import (
    OrderCancelledNotification,
    OrderConfirmedNotification,
    OrderCreatedNotification,
    OrderShippedNotification,
)


def created(order_id: UUID, customer_name: str = "Lucas") -> OrderCreatedNotification:
    return OrderCreatedNotification(
        event_id=uuid4(),
        order_id=order_id,
        customer_name=customer_name,
        total_amount=Decimal("199.90"),
    )


def confirmed(order_id: UUID, version: int = 2) -> OrderConfirmedNotification:
    return OrderConfirmedNotification(event_id=uuid4(), order_id=order_id, order_version=version)


def shipped(
    order_id: UUID, version: int = 3, tracking_number: str | None = None
) -> OrderShippedNotification:
    return OrderShippedNotification(
        event_id=uuid4(),
        order_id=order_id,
        order_version=version,
        tracking_number=tracking_number,
    )


def cancelled(
    order_id: UUID, version: int = 3, reason: str | None = None
) -> OrderCancelledNotification:
    return OrderCancelledNotification(
        event_id=uuid4(), order_id=order_id, order_version=version, reason=reason
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def order_confirmed(order_id: UUID, version: int = 2) -> OrderConfirmedV1:
    return OrderConfirmedV1(
        event_id=uuid4(), occurred_at=_now(), order_id=order_id, order_version=version
    )


def order_shipped(
    order_id: UUID, version: int = 3, tracking_number: str | None = None
) -> OrderShippedV1:
    return OrderShippedV1(
        event_id=uuid4(),
        occurred_at=_now(),
        order_id=order_id,
        order_version=version,
        tracking_number=tracking_number,
    )


def order_cancelled(
    order_id: UUID, version: int = 3, reason: str | None = None
) -> OrderCancelledV1:
    return OrderCancelledV1(
        event_id=uuid4(),
        occurred_at=_now(),
        order_id=order_id,
        order_version=version,
        reason=reason,
    )
