"""The lifecycle events' wire format (issue 25, item 6): each type read back from its own
JSON by `read_order_event`, `orderVersion` on every event, the one upcaster for an
`OrderCreated` that predates it, and bad messages refused as `InvalidEvent`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from order_platform.contracts import InvalidEvent, OrderCreatedV1, event_headers
from order_platform.contracts.order_events import (
    EVENT_TYPES,
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderShippedV1,
    read_order_event,
    upcast,
)
from tests.unit.contracts.test_order_created_customer import event

AT = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def created() -> OrderCreatedV1:
    return event(customer_id=None)


@pytest.mark.parametrize(
    "event",
    [
        OrderConfirmedV1(event_id=uuid4(), occurred_at=AT, order_id=uuid4(), order_version=2),
        OrderShippedV1(
            event_id=uuid4(),
            occurred_at=AT,
            order_id=uuid4(),
            order_version=3,
            tracking_number="TRK-1",
            customer_id="lucas",
        ),
        OrderCancelledV1(
            event_id=uuid4(), occurred_at=AT, order_id=uuid4(), order_version=2, reason="late"
        ),
    ],
)
def test_each_transition_reads_back_as_itself(
    event: OrderConfirmedV1 | OrderShippedV1 | OrderCancelledV1,
) -> None:
    assert read_order_event(event.to_json()) == event
    message = json.loads(event.to_json())
    assert message["eventType"] == type(event).__name__.removesuffix("V1")
    assert message["eventVersion"] == 1
    assert message["orderVersion"] == event.order_version
    assert message["occurredAt"] == "2026-12-06T08:00:00.000Z"


def test_absent_optional_fields_stay_absent_never_null() -> None:
    shipped = OrderShippedV1(event_id=uuid4(), occurred_at=AT, order_id=uuid4(), order_version=3)
    message = json.loads(shipped.to_json())
    assert "trackingNumber" not in message
    assert "customerId" not in message


def test_order_created_carries_version_1_and_reads_back_through_the_same_reader() -> None:
    event = created()
    assert json.loads(event.to_json())["orderVersion"] == 1
    assert read_order_event(event.to_json()) == event


def test_an_order_created_from_before_order_versions_is_read_as_version_1() -> None:
    old = json.loads(created().to_json())
    del old["orderVersion"]
    assert upcast(old)["orderVersion"] == 1
    read = read_order_event(json.dumps(old))
    assert isinstance(read, OrderCreatedV1)
    assert read.order_version == 1
    assert OrderCreatedV1.from_json(json.dumps(old)).order_version == 1


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"eventType": "OrderRefunded"}, "eventType"),
        ({"orderVersion": 1}, "orderVersion"),  # a transition is never version 1
        ({"orderVersion": "two"}, "orderVersion"),
        ({"reason": "  padded  "}, "trimmed"),
        ({"reason": "x" * 501}, "500"),
        ({"reason": "bell\u0007"}, "control character"),
        ({"occurredAt": "2026-12-06T08:00:00"}, "UTC offset"),
    ],
)
def test_a_message_that_breaks_the_contract_is_an_invalid_event(
    change: dict[str, object], why: str
) -> None:
    cancelled = OrderCancelledV1(
        event_id=uuid4(), occurred_at=AT, order_id=uuid4(), order_version=2
    )
    message = {**json.loads(cancelled.to_json()), **change}
    with pytest.raises(InvalidEvent, match=why):
        read_order_event(json.dumps(message))


def test_an_order_created_claiming_another_version_is_an_invalid_event() -> None:
    message = {**json.loads(created().to_json()), "orderVersion": 2}
    with pytest.raises(InvalidEvent, match="orderVersion"):
        read_order_event(json.dumps(message))


def test_not_json_is_an_invalid_event() -> None:
    with pytest.raises(InvalidEvent):
        read_order_event(b"\x00not json")


def test_every_event_type_has_its_header() -> None:
    assert EVENT_TYPES == ("OrderCreated", "OrderConfirmed", "OrderShipped", "OrderCancelled")
    for event_type in EVENT_TYPES:
        headers = dict(event_headers(event_type=event_type))
        assert headers["event-type"] == event_type.encode()
        assert headers["event-version"] == b"1"
