"""Orders in the timeline's chunks: one compact string each, and chunks of the earlier shape."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

from order_platform.read_service.domain import OrderView
from order_platform.read_service.infrastructure.timeline import (
    chunks_of,
    compact_entry,
    entry,
    merge,
    view_from_compact,
)

AT = datetime(2026, 12, 3, 12, 0, 0, 123000, tzinfo=UTC)


def view(name: str = "Zoë | 李", customer: str | None = None) -> OrderView:
    return OrderView(uuid4(), name, Decimal("199.90"), AT, uuid4(), customer)


def test_an_order_reads_back_from_its_compact_entry() -> None:
    for order in (view(), view(customer="alice")):
        assert view_from_compact(compact_entry(order)) == order


def test_a_chunk_holds_one_string_per_order() -> None:
    orders = [view(), view()]

    (chunk,) = chunks_of(orders).values()

    assert chunk["orders"] == [compact_entry(order) for order in orders]


def test_chunks_of_both_shapes_merge_each_order_once_newest_first() -> None:
    old, new, both = view("old"), view("new"), view("both")
    earlier_shape = {"orders": [{**entry(old), "createdAt": AT}, {**entry(both), "createdAt": AT}]}
    compact = {"orders": [compact_entry(new), compact_entry(both)]}

    merged = merge([earlier_shape, compact])

    assert sorted(merged, key=lambda v: v.customer_name) == sorted(
        [old, new, both], key=lambda v: v.customer_name
    )
    assert merged == sorted(merged, key=lambda v: v.position, reverse=True)
