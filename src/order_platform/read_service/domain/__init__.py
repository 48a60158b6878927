"""What the query side knows about an order: its view, its changes, and the order in which
views are listed."""

from order_platform.read_service.domain.order_view import (
    FINAL_STATUSES,
    PLACED,
    ListPosition,
    OrderChange,
    OrderView,
)

__all__ = ["FINAL_STATUSES", "PLACED", "ListPosition", "OrderChange", "OrderView"]
