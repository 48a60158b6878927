"""Feeds consumed order events to the projection: creations as views, the rest as changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from order_platform.building_blocks.kafka.consumer import Delivery
from order_platform.contracts import OrderCreatedV1
from order_platform.contracts.order_events import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderEventV1,
    OrderShippedV1,
)
from order_platform.read_service.application.projection import ProjectOrders
from order_platform.read_service.domain import OrderChange, OrderView

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


def change_of(event: OrderConfirmedV1 | OrderShippedV1 | OrderCancelledV1) -> OrderChange:
    return OrderChange(
        event_id=event.event_id,
        order_id=event.order_id,
        version=event.order_version,
        status={"OrderConfirmed": "confirmed", "OrderShipped": "shipped"}.get(
            event.event_type, "cancelled"
        ),
        at=event.occurred_at,
        tracking_number=getattr(event, "tracking_number", None),
        cancellation_reason=getattr(event, "reason", None),
    )


@dataclass(frozen=True, slots=True)
class ProjectionHandler:
    project: ProjectOrders

    async def __call__(self, deliveries: Sequence[Delivery[OrderEventV1]]) -> None:
        views: list[OrderView] = []
        changes: list[OrderChange] = []
        for delivery in deliveries:
            event = delivery.event
            if isinstance(event, OrderCreatedV1):
                views.append(view_of(event))
            else:
                changes.append(change_of(event))
        # A read model that is away (`ReadModelUnavailable`) is waited for by the consumer loop.
        await self.project(views, changes)
        for delivery in deliveries:
            # "Where is my order?": one line per event, with its correlation and trace ids.
            log.info(
                "order_projected",
                order_id=str(delivery.event.order_id),
                event_id=str(delivery.event.event_id),
                event_type=delivery.event.event_type,
                **delivery.log_context,
            )
