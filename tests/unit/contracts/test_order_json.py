"""The order's JSON shape is one: the write side's aggregate and the read side's view of the
same order are shown byte for byte alike, and match the schema both OpenAPI documents carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import jsonschema

from order_platform.contracts import OrderResponse, order_json
from order_platform.order_service.domain import Order
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
