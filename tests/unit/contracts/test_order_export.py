"""The export's lines round trip: what the Order Service writes, the rebuild reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_platform.contracts.order_export import (
    ExportedOrderLine,
    ExportEnd,
    end_line,
    order_line,
    read_line,
)


@dataclass(frozen=True)
class Order:
    id: UUID
    customer_name: str
    total_amount: Decimal
    created_at: datetime
    customer_id: str | None = None
    status: str = "placed"
    version: int = 1
    updated_at: datetime | None = None
    tracking_number: str | None = None
    cancellation_reason: str | None = None


LIVES = st.sampled_from(
    [
        {},
        {"status": "confirmed", "version": 2},
        {"status": "shipped", "version": 3, "tracking_number": "TN-1"},
        {"status": "cancelled", "version": 2, "cancellation_reason": "changed my mind"},
    ]
)


@given(
    name=st.text(min_size=1, max_size=200),
    cents=st.integers(1, 100_000_000_000),
    customer_id=st.none() | st.text(min_size=1, max_size=255),
    with_event=st.booleans(),
    life=LIVES,
)
def test_an_order_line_round_trips(
    name: str, cents: int, customer_id: str | None, with_event: bool, life: dict[str, object]
) -> None:
    created_at = datetime(2026, 11, 25, 8, 0, 0, 123000, tzinfo=UTC)
    changed_at = {"updated_at": created_at.replace(minute=5)} if life else {}
    order = Order(
        uuid4(), name, Decimal(cents).scaleb(-2), created_at, customer_id, **life, **changed_at
    )
    event_id = uuid4() if with_event else None

    line = order_line(order, event_id)

    assert line.endswith("\n")
    assert line.count("\n") == 1  # one line, whatever the name holds
    assert read_line(line) == ExportedOrderLine(
        order.id,
        name,
        order.total_amount,
        order.created_at,
        event_id,
        customer_id,
        order.status,
        order.version,
        order.updated_at,
        order.tracking_number,
        order.cancellation_reason,
    )


def test_the_end_line_carries_the_count() -> None:
    assert read_line(end_line(42)) == ExportEnd(42)
    assert read_line(end_line(0)) == ExportEnd(0)


@pytest.mark.parametrize(
    "line",
    ['{"end": true, "count": "many"}', '{"end": true}', '{"id": "x"}', "[]", "not json"],
)
def test_a_line_that_is_neither_is_refused(line: str) -> None:
    with pytest.raises((ValueError, KeyError, TypeError, AttributeError)):
        read_line(line)
