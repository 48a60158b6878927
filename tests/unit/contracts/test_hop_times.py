"""The console's internal JSON round trips: what the read service and the worker serve, the
console reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

from order_platform.contracts.hop_times import (
    ProjectionTime,
    notifications_json,
    notifications_of,
    projections_json,
    projections_of,
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
