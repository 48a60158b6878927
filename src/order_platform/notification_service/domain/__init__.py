"""What a notification is, and the order in which an order's are told. Pure Python: no
framework, no I/O."""

from order_platform.notification_service.domain.notification import (
    Notification,
    OrderCancelledNotification,
    OrderConfirmedNotification,
    OrderCreatedNotification,
    OrderShippedNotification,
)
from order_platform.notification_service.domain.order_progress import OrderProgress, Turn

__all__ = [
    "Notification",
    "OrderCancelledNotification",
    "OrderConfirmedNotification",
    "OrderCreatedNotification",
    "OrderProgress",
    "OrderShippedNotification",
    "Turn",
]
