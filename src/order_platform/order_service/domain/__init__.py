"""The Order aggregate and its rules. Pure Python: no framework, no I/O."""

from order_platform.order_service.domain.errors import InvalidOrderField
from order_platform.order_service.domain.order import Order, OrderCreated

__all__ = ["InvalidOrderField", "Order", "OrderCreated"]
