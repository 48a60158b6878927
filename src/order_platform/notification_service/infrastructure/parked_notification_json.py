"""How a parked notification is kept in the order's record in Redis: compact JSON, camelCase
like the events, without the customer's name (filled in from the order's record on release).

Internal to the Notification Service (only its replicas read it back); an unknown kind or a
malformed entry is a `ValueError`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from uuid import UUID

from order_platform.notification_service.domain import (
    Notification,
    OrderCancelledNotification,
    OrderConfirmedNotification,
    OrderCreatedNotification,
    OrderShippedNotification,
)

_OPTIONAL_TEXT = {"trackingNumber": "tracking_number", "reason": "reason"}


def parked_json(notification: Notification) -> str:
    fields: dict[str, Any] = {
        "eventType": notification.event_type,
        "eventId": str(notification.event_id),
        "orderId": str(notification.order_id),
        "orderVersion": notification.order_version,
    }
    if isinstance(notification, OrderCreatedNotification):
        fields["customerName"] = notification.customer_name
        fields["totalAmount"] = str(notification.total_amount)
    for name, attribute in _OPTIONAL_TEXT.items():
        if (value := getattr(notification, attribute, None)) is not None:
            fields[name] = value
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


def notification_from_parked(text: str | bytes) -> Notification:
    try:
        fields = json.loads(text)
        common: dict[str, Any] = {
            "event_id": UUID(fields["eventId"]),
            "order_id": UUID(fields["orderId"]),
            "order_version": int(fields["orderVersion"]),
        }
        match fields["eventType"]:
            case "OrderCreated":
                return OrderCreatedNotification(
                    **common,
                    customer_name=fields["customerName"],
                    total_amount=Decimal(fields["totalAmount"]),
                )
            case "OrderConfirmed":
                return OrderConfirmedNotification(**common)
            case "OrderShipped":
                return OrderShippedNotification(
                    **common, tracking_number=fields.get("trackingNumber")
                )
            case "OrderCancelled":
                return OrderCancelledNotification(**common, reason=fields.get("reason"))
            case other:
                raise ValueError(f"unknown parked event type {other!r}")
    except (KeyError, TypeError, ArithmeticError, json.JSONDecodeError) as error:
        raise ValueError(f"malformed parked notification: {error!r}") from error
