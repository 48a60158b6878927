"""`GET /internal/notifications`: when events were notified, for the operator console.

Internal (not in the OpenAPI document); read from the ledger every replica shares, so any
replica answers for all of them.
"""

from __future__ import annotations

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
    notifications_json,
)
from order_platform.notification_service.application.ports import LedgerUnavailable, SentTimes


@dataclass(frozen=True, slots=True)
class NotificationServiceApi:
    """What the worker's HTTP app serves besides health and metrics."""

    sent_times: SentTimes


internal_router = APIRouter(tags=["internal"], include_in_schema=False)


@internal_router.get(NOTIFICATIONS_PATH, response_model=None)
async def notifications(
    api: Annotated[NotificationServiceApi, Depends(current_api)],
    event_id: Annotated[list[UUID], Query(alias=EVENT_ID_PARAMETER, max_length=MAX_IDS)],
) -> object:
    """The format of `contracts.hop_times`."""
    found = await api.sent_times.sent_at(list(dict.fromkeys(event_id)))
    return notifications_json(found)


# What to tell the caller; status and Retry-After come with the category (`install_details`).
DETAILS: DetailTable = {LedgerUnavailable: "The notification ledger is unavailable."}
