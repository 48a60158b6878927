"""When an order passed the hops the console cannot see on the topic: the internal JSON the
read service (`GET /internal/projections`) and the worker (`GET /internal/notifications`)
serve, and the operator console reads.

`{"projections": {orderId: {"projectedAt", "createdAt", "eventId", "version"}}, "parked":
{orderId: [{"eventId", "version", "waitingFor"}]}}`: an order not projected (yet) is absent
from `projections`; `projectedAt` is null for one stored before it was recorded; `version` is
the order's version in the read model (every event up to it is projected); `parked` has the
asked orders' changes that wait for a missing version (also of an order not projected yet).
`{"notifications": {eventId: sentAt}, "parked": {eventId: {"orderId", "version",
"waitingFor"}}}`: an event not notified (yet) is absent; `parked`, the notifier's parked
events of the orders asked for by `orderId`.
Times are RFC 3339 UTC. A reader takes a missing `version` or `parked` as unknown or none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    version: int | None = None  # None: not said (an older read service)


@dataclass(frozen=True, slots=True)
class ParkedHop:
    """An event a consumer parked: it waits for version `waiting_for` of its order."""

    order_id: UUID
    event_id: UUID
    version: int
    waiting_for: int


def projections_json(
    found: Mapping[UUID, ProjectionTime], parked: Sequence[ParkedHop] = ()
) -> dict[str, Any]:
    by_order: dict[str, list[dict[str, Any]]] = {}
    for hop in parked:
        by_order.setdefault(str(hop.order_id), []).append(
            {"eventId": str(hop.event_id), "version": hop.version, "waitingFor": hop.waiting_for}
        )
    return {
        "projections": {
            str(order_id): {
                "projectedAt": None if hop.projected_at is None else rfc3339(hop.projected_at),
                "createdAt": rfc3339(hop.created_at),
                "eventId": str(hop.event_id),
                "version": hop.version,
            }
            for order_id, hop in found.items()
        },
        "parked": by_order,
    }


def projections_of(body: Mapping[str, Any]) -> dict[UUID, ProjectionTime]:
    return {
        UUID(order_id): ProjectionTime(
            projected_at=_time(found["projectedAt"]) if found.get("projectedAt") else None,
            created_at=_time(found["createdAt"]),
            event_id=UUID(found["eventId"]),
            version=found.get("version"),
        )
        for order_id, found in body["projections"].items()
    }


def projections_parked_of(body: Mapping[str, Any]) -> list[ParkedHop]:
    return [
        ParkedHop(UUID(order_id), UUID(p["eventId"]), p["version"], p["waitingFor"])
        for order_id, parked in body.get("parked", {}).items()
        for p in parked
    ]


def notifications_json(
    found: Mapping[UUID, datetime], parked: Sequence[ParkedHop] = ()
) -> dict[str, Any]:
    return {
        "notifications": {str(event_id): rfc3339(at) for event_id, at in found.items()},
        "parked": {
            str(hop.event_id): {
                "orderId": str(hop.order_id),
                "version": hop.version,
                "waitingFor": hop.waiting_for,
            }
            for hop in parked
        },
    }


def notifications_of(body: Mapping[str, Any]) -> dict[UUID, datetime]:
    return {UUID(event_id): _time(at) for event_id, at in body["notifications"].items()}


def notifications_parked_of(body: Mapping[str, Any]) -> list[ParkedHop]:
    return [
        ParkedHop(UUID(p["orderId"]), UUID(event_id), p["version"], p["waitingFor"])
        for event_id, p in body.get("parked", {}).items()
    ]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)
