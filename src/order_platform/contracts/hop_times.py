"""When an order passed the hops the console cannot see on the topic: the internal JSON the
read service (`GET /internal/projections`) and the worker (`GET /internal/notifications`)
serve, and the operator console reads.

`{"projections": {orderId: {"projectedAt", "createdAt", "eventId"}}}`: an order not projected
(yet) is absent; `projectedAt` is null for one stored before it was recorded.
`{"notifications": {eventId: sentAt}}`: an event not notified (yet) is absent.
Times are RFC 3339 UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from uuid import UUID

from order_platform.contracts.order_created import rfc3339

PROJECTIONS_PATH: Final = "/internal/projections"
NOTIFICATIONS_PATH: Final = "/internal/notifications"
ORDER_ID_PARAMETER: Final = "orderId"  # repeated, one per order
EVENT_ID_PARAMETER: Final = "eventId"  # repeated, one per event
MAX_IDS: Final = 100  # per request


@dataclass(frozen=True, slots=True)
class ProjectionTime:
    projected_at: datetime | None
    created_at: datetime
    event_id: UUID


def projections_json(found: Mapping[UUID, ProjectionTime]) -> dict[str, Any]:
    return {
        "projections": {
            str(order_id): {
                "projectedAt": None if hop.projected_at is None else rfc3339(hop.projected_at),
                "createdAt": rfc3339(hop.created_at),
                "eventId": str(hop.event_id),
            }
            for order_id, hop in found.items()
        }
    }


def projections_of(body: Mapping[str, Any]) -> dict[UUID, ProjectionTime]:
    return {
        UUID(order_id): ProjectionTime(
            projected_at=_time(found["projectedAt"]) if found.get("projectedAt") else None,
            created_at=_time(found["createdAt"]),
            event_id=UUID(found["eventId"]),
        )
        for order_id, found in body["projections"].items()
    }


def notifications_json(found: Mapping[UUID, datetime]) -> dict[str, Any]:
    return {"notifications": {str(event_id): rfc3339(at) for event_id, at in found.items()}}


def notifications_of(body: Mapping[str, Any]) -> dict[UUID, datetime]:
    return {UUID(event_id): _time(at) for event_id, at in body["notifications"].items()}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)
