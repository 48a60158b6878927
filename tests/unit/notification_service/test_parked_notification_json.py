"""A parked notification reads back as itself, without the name (filled in on release)."""

from __future__ import annotations

from dataclasses import replace
from uuid import uuid4

import pytest

from order_platform.notification_service.domain import Notification
from order_platform.notification_service.infrastructure.parked_notification_json import (
    notification_from_parked,
    parked_json,
)
from tests.unit.notification_service.builders import cancelled, confirmed, created, shipped

ORDER = uuid4()


@pytest.mark.parametrize(
    "notification",
    [
        confirmed(ORDER),
        shipped(ORDER),
        shipped(ORDER, tracking_number="BR 123 ✓"),
        cancelled(ORDER, version=2),
        cancelled(ORDER, reason='Changed "my" mind'),
        created(ORDER, "Lucas"),
    ],
)
def test_a_parked_notification_reads_back_as_itself(notification: Notification) -> None:
    assert notification_from_parked(parked_json(notification)) == notification


def test_a_transitions_name_is_not_kept() -> None:
    named = replace(confirmed(ORDER), customer_name="Lucas")

    assert notification_from_parked(parked_json(named)).customer_name is None


@pytest.mark.parametrize("text", ["{}", "[]", '{"eventType": "OrderLost"}', "not json"])
def test_a_malformed_entry_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="parked"):
        notification_from_parked(text)
