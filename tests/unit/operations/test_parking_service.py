"""Whose parked events `dlq list --group G` lists: `--service`, else the environment."""

from __future__ import annotations

import pytest

from order_platform.contracts.parked_events import ParkedEvents
from order_platform.operations.dlq_command import ParkingService, UnknownService, parking_service


def services(read_group: str, notifier_group: str) -> list[ParkingService]:
    def nowhere() -> ParkedEvents:
        raise AssertionError("not opened here")

    return [
        ParkingService("read-service", "order-read-service", lambda: read_group, nowhere),
        ParkingService(
            "notification-service", "notification-service", lambda: notifier_group, nowhere
        ),
    ]


def test_the_configured_group_names_its_service() -> None:
    found = parking_service("reads-blue", services("reads-blue", "notification-service"), None)
    assert found.name == "read-service"


def test_a_default_group_name_names_its_service_when_the_environment_names_both() -> None:
    """CONSUMER_GROUP is both services' variable: set, it names both."""
    found = parking_service("notification-service", services("blue", "blue"), None)
    assert found.name == "notification-service"


@pytest.mark.parametrize("group", ["blue", "someone-else"])
def test_a_group_that_names_both_or_neither_needs_service(group: str) -> None:
    with pytest.raises(UnknownService):
        parking_service(group, services("blue", "blue"), None)
    assert parking_service(group, services("blue", "blue"), "read-service").name == "read-service"
