"""The Order aggregate and its rules. Pure Python: no framework, no I/O."""

from order_platform.order_service.domain.errors import InvalidOrderField, TransitionNotAllowed
from order_platform.order_service.domain.order import (
    ALLOWED,
    Command,
    Order,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderEvent,
    OrderShipped,
    OrderStatus,
)

__all__ = [
    "ALLOWED",
    "Command",
    "InvalidOrderField",
    "Order",
    "OrderCancelled",
    "OrderConfirmed",
    "OrderCreated",
    "OrderEvent",
    "OrderShipped",
    "OrderStatus",
    "TransitionNotAllowed",
]
