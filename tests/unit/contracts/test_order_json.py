"""The order's JSON shape is one: the write side's aggregate and the read side's view of the
same order are shown byte for byte alike, and match the schema both OpenAPI documents carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import jsonschema

from order_platform.contracts import (
    OrderResponse,
    OrderStateResponse,
    order_json,
    order_state_json,
)
from order_platform.order_service.domain import Order, OrderStatus
from order_platform.read_service.domain import OrderView

ORDER_ID = UUID("0b8e6d0c-3f55-4a4e-9c39-7d6a0c2d8f10")
# An offset on the way in: the wire is always UTC with a `Z`.
CREATED = datetime(2026, 11, 25, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))


def test_an_order_and_its_view_are_shown_alike() -> None:
    order = Order.create(
        order_id=ORDER_ID,
        event_id=UUID(int=1),
        customer_name="Zoë 李",
        total_amount=Decimal("199.9"),
        now=CREATED,
    )
    view = OrderView(ORDER_ID, "Zoë 李", Decimal("199.90"), CREATED.astimezone(UTC), UUID(int=1))

    assert (
        order_json(order)
        == order_json(view)
        == {
            "id": "0b8e6d0c-3f55-4a4e-9c39-7d6a0c2d8f10",
            "customerName": "Zoë 李",
            "totalAmount": "199.90",
            "createdAt": "2026-11-25T08:00:00.123Z",
        }
    )


def test_the_shape_matches_its_published_schema() -> None:
    view = OrderView(ORDER_ID, "Lucas", Decimal("5"), CREATED, UUID(int=1))

    jsonschema.validate(order_json(view), OrderResponse.model_json_schema())
    assert set(OrderResponse.model_json_schema()["required"]) == set(order_json(view))


def placed_order() -> Order:
    return Order.create(
        order_id=ORDER_ID,
        event_id=UUID(int=1),
        customer_name="Lucas",
        total_amount=Decimal("5"),
        now=CREATED,
        customer_id="alice",
    )


def test_an_orders_state_adds_its_life_to_its_shape() -> None:
    order = placed_order()

    shown = order_state_json(order)

    assert shown == order_json(order) | {
        "status": "placed",
        "version": 1,
        "updatedAt": "2026-11-25T08:00:00.123Z",  # never changed: its creation
    }


def test_set_fields_are_shown_and_unset_ones_absent_never_null() -> None:
    shipped, cancelled = placed_order(), placed_order()
    later = CREATED + timedelta(hours=2)
    shipped.confirm(event_id=UUID(int=2), now=later)
    shipped.ship(event_id=UUID(int=3), now=later, tracking_number="1Z999")
    cancelled.cancel(event_id=UUID(int=4), now=later)

    assert order_state_json(shipped)["trackingNumber"] == "1Z999"
    assert (order_state_json(shipped)["version"], order_state_json(shipped)["updatedAt"]) == (
        3,
        "2026-11-25T10:00:00.123Z",
    )
    assert "cancellationReason" not in order_state_json(shipped)
    assert "cancellationReason" not in order_state_json(cancelled)
    assert order_state_json(cancelled)["status"] == "cancelled"
    for order in (shipped, cancelled):
        jsonschema.validate(order_state_json(order), OrderStateResponse.model_json_schema())


def test_the_published_statuses_are_the_domains() -> None:
    statuses = OrderStateResponse.model_json_schema()["properties"]["status"]["enum"]

    assert statuses == [status.value for status in OrderStatus]
