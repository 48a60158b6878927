"""What the query side knows about an order: its view and the order in which views are listed."""

from order_platform.read_service.domain.order_view import ListPosition, OrderView

__all__ = ["ListPosition", "OrderView"]
