"""The notifications: the creation's value (a recipient, a positive total, shown in dollars and
cents) and every kind's line and message."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_platform.notification_service.domain import OrderCreatedNotification
from tests.unit.notification_service.builders import cancelled, confirmed, shipped


def with_total(amount: str | Decimal) -> OrderCreatedNotification:
    return OrderCreatedNotification(
        event_id=uuid4(), order_id=uuid4(), customer_name="Lucas", total_amount=Decimal(amount)
    )


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("199.90", "$199.90"),
        ("199.9", "$199.90"),
        ("5", "$5.00"),
        ("0.01", "$0.01"),
        ("1E+9", "$1000000000.00"),
    ],
)
def test_the_total_is_shown_with_two_decimals(amount: str, shown: str) -> None:
    assert with_total(amount).total_text == shown


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**9), places=2))
def test_any_amount_in_cents_shows_its_exact_value(amount: Decimal) -> None:
    text = with_total(amount).total_text
    assert text.startswith("$")
    assert Decimal(text.removeprefix("$")) == amount
    assert len(text.rsplit(".", 1)[1]) == 2


@pytest.mark.parametrize("amount", ["0", "-1", "NaN", "Infinity"])
def test_a_total_that_is_not_positive_is_refused(amount: str) -> None:
    with pytest.raises(ValueError, match="positive"):
        with_total(amount)


def test_a_notification_needs_a_recipient() -> None:
    with pytest.raises(ValueError, match="recipient"):
        OrderCreatedNotification(
            event_id=uuid4(), order_id=uuid4(), customer_name="", total_amount=Decimal(1)
        )


def test_each_transition_has_its_line_with_a_dash_for_what_it_lacks() -> None:
    order = uuid4()

    assert confirmed(order).line == f"✅ Order {order} confirmed | -"
    assert shipped(order).line == f"📦 Order {order} shipped to - | Tracking: -"
    assert cancelled(order).line == f"❌ Order {order} cancelled | Reason: -"
    named = replace(shipped(order, tracking_number="TN 7"), customer_name="Lucas")
    assert named.line == f"📦 Order {order} shipped to Lucas | Tracking: TN 7"
    assert replace(cancelled(order, reason="Late"), customer_name="Lucas").line == (
        f"❌ Order {order} cancelled | Reason: Late"
    )


def test_a_transitions_message_greets_by_name_when_known() -> None:
    order = uuid4()

    assert confirmed(order).message == f"Hi, your order {order} is confirmed."
    assert replace(cancelled(order, reason="Late"), customer_name="Ana").message == (
        f"Hi Ana, your order {order} was cancelled. Reason: Late."
    )


def test_a_name_is_a_name_or_unknown_never_empty() -> None:
    with pytest.raises(ValueError, match="never empty"):
        replace(confirmed(uuid4()), customer_name="")


def test_an_order_is_created_at_version_1() -> None:
    with pytest.raises(ValueError, match="version 1"):
        OrderCreatedNotification(
            event_id=uuid4(),
            order_id=uuid4(),
            order_version=2,
            customer_name="Lucas",
            total_amount=Decimal(1),
        )
