"""Feeds consumed `OrderCreated` events to the projection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from order_platform.building_blocks.kafka.consumer import Delivery
from order_platform.contracts import OrderCreatedV1
from order_platform.read_service.application.projection import ProjectOrders
from order_platform.read_service.domain import OrderView

log = structlog.get_logger(__name__)


def view_of(event: OrderCreatedV1) -> OrderView:
    return OrderView(
        id=event.order_id,
        customer_name=event.customer_name,
        total_amount=event.total_amount,
        created_at=event.created_at,
        event_id=event.event_id,
        customer_id=event.customer_id,
    )


@dataclass(frozen=True, slots=True)
class ProjectionHandler:
    project: ProjectOrders

    async def __call__(self, deliveries: Sequence[Delivery[OrderCreatedV1]]) -> None:
        # A read model that is away (`ReadModelUnavailable`) is waited for by the consumer loop.
        await self.project([view_of(delivery.event) for delivery in deliveries])
        for delivery in deliveries:
            # "Where is my order?": one line per order, with its correlation and trace ids.
            log.info(
                "order_projected",
                order_id=str(delivery.event.order_id),
                event_id=str(delivery.event.event_id),
                **delivery.log_context,
            )
