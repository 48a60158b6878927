"""The order's life as a state machine (issue 25, item 1): pure, checked over random command
sequences as well as by example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_platform.order_service.domain import (
    ALLOWED,
    Command,
    InvalidOrderField,
    Order,
    OrderCancelled,
    OrderConfirmed,
    OrderShipped,
    OrderStatus,
    TransitionNotAllowed,
)

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def placed(customer_id: str | None = "lucas") -> Order:
    return Order.create(
        order_id=uuid4(),
        event_id=uuid4(),
        customer_name="Lucas",
        total_amount=Decimal("199.90"),
        now=NOW,
        customer_id=customer_id,
    )


def run(order: Order, command: Command, now: datetime, text: str | None = None) -> object:
    if command is Command.CONFIRM:
        return order.confirm(event_id=uuid4(), now=now)
    if command is Command.SHIP:
        return order.ship(event_id=uuid4(), now=now, tracking_number=text)
    return order.cancel(event_id=uuid4(), now=now, reason=text)


def test_a_placed_order_is_version_1_and_allows_confirm_and_cancel() -> None:
    order = placed()
    assert (order.status, order.version, order.updated_at) == (OrderStatus.PLACED, 1, None)
    assert order.allowed == (Command.CONFIRM, Command.CANCEL)


def test_confirm_then_ship_records_each_event_with_the_version_it_made() -> None:
    order = placed()
    confirm_id, ship_id = uuid4(), uuid4()
    later = NOW + timedelta(hours=1)

    confirmed = order.confirm(event_id=confirm_id, now=NOW)
    shipped = order.ship(event_id=ship_id, now=later, tracking_number="  TRK-1  ")

    assert confirmed == OrderConfirmed(confirm_id, order.id, 2, NOW, customer_id="lucas")
    assert shipped == OrderShipped(ship_id, order.id, 3, later, "TRK-1", customer_id="lucas")
    assert order.events[1:] == [confirmed, shipped]
    assert (order.status, order.version, order.updated_at) == (OrderStatus.SHIPPED, 3, later)
    assert order.tracking_number == "TRK-1"
    assert order.allowed == ()


def test_a_cancel_keeps_its_reason_and_a_missing_one_stays_absent() -> None:
    with_reason, without = placed(), placed(customer_id=None)
    with_reason.confirm(event_id=uuid4(), now=NOW)

    cancelled = with_reason.cancel(event_id=uuid4(), now=NOW, reason="changed my mind")
    bare = without.cancel(event_id=uuid4(), now=NOW)

    assert (cancelled.reason, cancelled.order_version) == ("changed my mind", 3)
    assert with_reason.cancellation_reason == "changed my mind"
    assert isinstance(bare, OrderCancelled)
    assert (bare.reason, bare.order_version, bare.customer_id) == (None, 2, None)


def test_a_shipped_order_cannot_be_cancelled_and_says_what_it_allows() -> None:
    order = placed()
    order.confirm(event_id=uuid4(), now=NOW)
    order.ship(event_id=uuid4(), now=NOW)

    with pytest.raises(TransitionNotAllowed) as refused:
        order.cancel(event_id=uuid4(), now=NOW, reason="too late")

    assert (refused.value.command, refused.value.status, refused.value.allowed) == (
        "cancel",
        "shipped",
        (),
    )
    assert "final" in str(refused.value)
    assert (order.status, order.version, order.cancellation_reason) == ("shipped", 3, None)


@pytest.mark.parametrize(
    ("reason", "why"),
    [
        ("   ", "empty or only whitespace"),
        ("late\u0000", "control characters"),
        ("x" * 501, "at most 500"),
    ],
)
def test_an_invalid_reason_is_refused_and_changes_nothing(reason: str, why: str) -> None:
    order = placed()
    with pytest.raises(InvalidOrderField, match=why):
        order.cancel(event_id=uuid4(), now=NOW, reason=reason)
    assert (order.status, order.version, len(order.events)) == (OrderStatus.PLACED, 1, 1)


def test_a_reason_counts_characters_not_bytes() -> None:
    order = placed()
    order.cancel(event_id=uuid4(), now=NOW, reason="李" * 500)
    assert order.cancellation_reason == "李" * 500


def test_a_naive_time_is_refused_before_anything_changes() -> None:
    order = placed()
    with pytest.raises(ValueError, match="timezone-aware"):
        order.confirm(event_id=uuid4(), now=NOW.replace(tzinfo=None))
    assert (order.status, order.version) == (OrderStatus.PLACED, 1)


@given(
    st.lists(
        st.tuples(st.sampled_from(Command), st.none() | st.sampled_from(["r", "  ", "\x07"])),
        max_size=12,
    )
)
def test_any_command_sequence_follows_the_diagram(
    commands: list[tuple[Command, str | None]],
) -> None:
    order = placed()
    history = [OrderStatus.PLACED]
    now = NOW
    for command, text in commands:
        before = (order.status, order.version, len(order.events))
        now += timedelta(seconds=1)
        try:
            event = run(order, command, now, text)
        except (TransitionNotAllowed, InvalidOrderField):
            # Refused: nothing changed, and a refusal by status means the diagram forbids it.
            assert (order.status, order.version, len(order.events)) == before
            continue
        assert command in ALLOWED[history[-1]]
        history.append(order.status)
        assert order.events[-1] is event
        assert order.version == len(history)
        assert order.updated_at == now

    # Versions are consecutive from 1, one event per version, and no status is left twice.
    versions = [1, *(e.order_version for e in order.events[1:])]
    assert versions == list(range(1, order.version + 1))
    assert len(set(history)) == len(history)
    # Shipped only after confirmed; nothing after a final status.
    if OrderStatus.SHIPPED in history:
        assert history[: history.index(OrderStatus.SHIPPED)][-1] is OrderStatus.CONFIRMED
    assert all(
        status not in (OrderStatus.SHIPPED, OrderStatus.CANCELLED) for status in history[:-1]
    )
    assert len({e.event_id for e in order.events}) == len(order.events)
    assert all(isinstance(e.event_id, UUID) for e in order.events)
