"""The `GetOrder` query: the write model's current state of one order (what `If-Match` is
compared with), for its owner or whoever may see every order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from order_platform.order_service.application.order_access import Requester, visible_order
from order_platform.order_service.application.ports import UnitOfWork
from order_platform.order_service.domain import Order


@dataclass(frozen=True, slots=True)
class GetOrderHandler:
    new_unit_of_work: Callable[[], UnitOfWork]

    async def __call__(self, order_id: UUID, requester: Requester) -> Order:
        """Raises `OrderNotFound` for an unknown order and for another customer's."""
        async with self.new_unit_of_work() as uow:
            return await visible_order(uow.orders, order_id, requester)
