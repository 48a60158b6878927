"""The `Notification` value: a recipient, a positive total, shown in dollars and cents."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_platform.notification_service.domain import Notification


def with_total(amount: str | Decimal) -> Notification:
    return Notification(
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
        Notification(event_id=uuid4(), order_id=uuid4(), customer_name="", total_amount=Decimal(1))
