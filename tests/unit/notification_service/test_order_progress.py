"""`OrderProgress`: whose turn it is, and which parked event goes next."""

from __future__ import annotations

from uuid import uuid4

import pytest

from order_platform.notification_service.domain import OrderProgress, Turn
from tests.unit.notification_service.builders import cancelled, confirmed, shipped


@pytest.mark.parametrize(
    ("notified", "version", "turn"),
    [
        (0, 1, Turn.NOW),
        (1, 2, Turn.NOW),
        (1, 3, Turn.WAIT),
        (0, 2, Turn.WAIT),  # the creation was seen, not told yet
        (2, 2, Turn.PAST),
        (3, 2, Turn.PAST),
        (None, 1, Turn.NOW),
        (None, 4, Turn.NOW),  # an order without a record starts at the first version seen
    ],
)
def test_the_turn_of_a_version(notified: int | None, version: int, turn: Turn) -> None:
    assert OrderProgress(notified_version=notified).turn_of(version) is turn


def test_the_lowest_parked_event_goes_next_once_its_turn_came() -> None:
    order = uuid4()
    parked = {4: cancelled(order, version=4), 3: shipped(order)}

    assert OrderProgress(notified_version=1, parked=parked).releasable() is None
    assert OrderProgress(notified_version=2, parked=parked).releasable() == parked[3]
    # Told already (a crash before it left the park): handed out for the dedupe.
    assert OrderProgress(notified_version=5, parked=parked).releasable() == parked[3]


def test_a_transition_is_addressed_by_the_name_from_the_orders_creation() -> None:
    event = confirmed(uuid4())

    assert OrderProgress(0, "Ana").addressed(event).customer_name == "Ana"
    assert OrderProgress().addressed(event) is event
    assert OrderProgress(0, "Ana").waiting_for == 1
    assert OrderProgress(2).waiting_for == 3
