"""The order's document in the write model: its life's fields round-trip, and a document
stored before orders had a life reads as placed, version 1."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from bson.decimal128 import Decimal128

from order_platform.order_service.domain import OrderStatus
from order_platform.order_service.infrastructure.write_model import (
    order_document,
    order_from_document,
)
from tests.unit.order_service.test_order_lifecycle import NOW, placed


def test_a_placed_order_is_stored_with_its_status_and_version_and_nothing_unset() -> None:
    document = order_document(placed(), None)
    assert (document["status"], document["version"]) == ("placed", 1)
    assert {"updatedAt", "trackingNumber", "cancellationReason"}.isdisjoint(document)


def test_a_shipped_and_a_cancelled_order_read_back_as_they_were() -> None:
    shipped, cancelled = placed(), placed()
    shipped.confirm(event_id=uuid4(), now=NOW + timedelta(minutes=1))
    shipped.ship(event_id=uuid4(), now=NOW + timedelta(minutes=2), tracking_number="TRK-1")
    cancelled.cancel(event_id=uuid4(), now=NOW + timedelta(minutes=3), reason="changed my mind")

    for order in (shipped, cancelled):
        read = order_from_document(order_document(order, None))
        assert (
            read.status,
            read.version,
            read.updated_at,
            read.tracking_number,
            read.cancellation_reason,
            read.customer_id,
        ) == (
            order.status,
            order.version,
            order.updated_at,
            order.tracking_number,
            order.cancellation_reason,
            order.customer_id,
        )


def test_a_document_from_before_orders_had_a_life_reads_as_placed_version_1() -> None:
    legacy = {
        "_id": str(uuid4()),
        "customerName": "Lucas",
        "totalAmount": Decimal128("199.90"),
        "createdAt": NOW,
    }
    order = order_from_document(legacy)
    assert (order.status, order.version, order.updated_at) == (OrderStatus.PLACED, 1, None)
    assert order.allowed == ("confirm", "cancel")
