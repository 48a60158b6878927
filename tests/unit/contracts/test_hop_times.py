"""The console's internal JSON round trips: what the read service and the worker serve, the
console reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

from order_platform.contracts.hop_times import (
    ParkedHop,
    ProjectionTime,
    notifications_json,
    notifications_of,
    notifications_parked_of,
    projections_json,
    projections_of,
    projections_parked_of,
)

AT = datetime(2026, 11, 25, 8, 0, 0, 123000, tzinfo=UTC)


def over_the_wire(body: object) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(json.dumps(body))
    return decoded


def test_projection_times_round_trip() -> None:
    found = {
        uuid4(): ProjectionTime(AT, AT.replace(second=1), uuid4()),
        uuid4(): ProjectionTime(None, AT, uuid4()),  # stored before it was recorded
    }

    assert projections_of(over_the_wire(projections_json(found))) == found


def test_notification_times_round_trip() -> None:
    found = {uuid4(): AT, uuid4(): AT.replace(minute=5)}

    assert notifications_of(over_the_wire(notifications_json(found))) == found


def test_nothing_found_is_an_empty_answer() -> None:
    assert projections_of(over_the_wire(projections_json({}))) == {}
    assert notifications_of(over_the_wire(notifications_json({}))) == {}


def test_each_orders_version_and_parked_events_round_trip() -> None:
    order, other = uuid4(), uuid4()
    found = {order: ProjectionTime(AT, AT, uuid4(), version=2)}
    read_parked = [ParkedHop(order, uuid4(), 4, 3), ParkedHop(other, uuid4(), 2, 1)]
    notifier_parked = [ParkedHop(order, uuid4(), 3, 2)]

    projected = over_the_wire(projections_json(found, read_parked))
    notified = over_the_wire(notifications_json({}, notifier_parked))

    assert projections_of(projected) == found
    assert projections_parked_of(projected) == read_parked
    assert notifications_parked_of(notified) == notifier_parked


def test_an_answer_without_versions_or_parked_events_says_none() -> None:
    """What a service from before the lifecycle answers."""
    created = uuid4()
    older = {
        "projections": {
            str(created): {"createdAt": "2026-11-25T08:00:00Z", "eventId": str(created)}
        }
    }

    assert projections_of(older)[created].version is None
    assert projections_parked_of(older) == []
    assert notifications_parked_of({"notifications": {}}) == []
