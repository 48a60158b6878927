"""Who may see and change which order: the owner, or whoever may act on every order."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from order_platform.contracts.errors import NotFound
from order_platform.order_service.application.ports import OrderRepository
from order_platform.order_service.domain import Order


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks: the token's `sub` (None while auth is off), and whether they may act on every
    order (`orders:admin`, or auth off) or only on the orders they placed."""

    subject: str | None
    acts_on_every_order: bool = False

    def may_see(self, order: Order) -> bool:
        return self.acts_on_every_order or (
            self.subject is not None and order.customer_id == self.subject
        )


class OrderNotFound(NotFound):
    """Unknown, or not the requester's: the two answer alike, so that nobody learns which
    order ids exist."""

    def __init__(self, order_id: UUID) -> None:
        super().__init__(f"order {order_id}")
        self.order_id = order_id


async def visible_order(orders: OrderRepository, order_id: UUID, requester: Requester) -> Order:
    """The stored order, if the requester may see it; `OrderNotFound` otherwise."""
    order = await orders.get(order_id)
    if order is None or not requester.may_see(order):
        raise OrderNotFound(order_id)
    return order
