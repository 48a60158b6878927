"""The Order aggregate and its rules. Pure Python: no framework, no I/O."""

from order_platform.order_service.domain.errors import DomainError, InvalidOrderField
from order_platform.order_service.domain.order import Order, OrderCreated

__all__ = ["DomainError", "InvalidOrderField", "Order", "OrderCreated"]
