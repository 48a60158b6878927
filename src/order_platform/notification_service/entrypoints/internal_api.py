"""`GET /internal/notifications`: when events were notified, for the operator console, and
the events parked of the orders it names (`orderId`), each with the version it waits for.

Internal (not in the OpenAPI document); read from the ledger and the orders' progress every
replica shares, so any replica answers for all of them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from order_platform.building_blocks.http.current_api import current_api
from order_platform.building_blocks.http.problem import DetailTable
from order_platform.contracts.hop_times import (
    EVENT_ID_PARAMETER,
    MAX_IDS,
    NOTIFICATIONS_PATH,
    ORDER_ID_PARAMETER,
    ParkedHop,
    notifications_json,
)
from order_platform.notification_service.application.ports import (
    LedgerUnavailable,
    OrderProgressLedger,
    SentTimes,
)


@dataclass(frozen=True, slots=True)
class NotificationServiceApi:
    """What the worker's HTTP app serves besides health and metrics."""

    sent_times: SentTimes
    orders: OrderProgressLedger


internal_router = APIRouter(tags=["internal"], include_in_schema=False)


@internal_router.get(NOTIFICATIONS_PATH, response_model=None)
async def notifications(
    api: Annotated[NotificationServiceApi, Depends(current_api)],
    event_id: Annotated[
        list[UUID] | None, Query(alias=EVENT_ID_PARAMETER, max_length=MAX_IDS)
    ] = None,
    order_id: Annotated[
        list[UUID] | None, Query(alias=ORDER_ID_PARAMETER, max_length=MAX_IDS)
    ] = None,
) -> object:
    """The format of `contracts.hop_times`."""
    events, orders = list(dict.fromkeys(event_id or [])), list(dict.fromkeys(order_id or []))
    found = await api.sent_times.sent_at(events) if events else {}
    progress = await asyncio.gather(*map(api.orders.progress, orders))
    parked = [
        ParkedHop(order, notification.event_id, version, known.waiting_for)
        for order, known in zip(orders, progress, strict=True)
        for version, notification in sorted(known.parked.items())
    ]
    return notifications_json(found, parked)


# What to tell the caller; status and Retry-After come with the category (`install_details`).
DETAILS: DetailTable = {LedgerUnavailable: "The notification ledger is unavailable."}
