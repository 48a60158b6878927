"""The one rule about money: > 0, at most 1,000,000,000, at most two decimal places."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_platform.contracts.money import AMOUNT_STRING_PATTERN, InvalidAmount, in_cents


@pytest.mark.parametrize(
    ("amount", "cents"),
    [
        ("0.01", "0.01"),
        ("1", "1.00"),
        ("12.5", "12.50"),
        ("199.90", "199.90"),
        ("1000000000", "1000000000.00"),
        ("1000000000.00", "1000000000.00"),
        ("1E+2", "100.00"),
    ],
)
def test_an_amount_is_kept_in_cents(amount: str, cents: str) -> None:
    kept = in_cents(Decimal(amount))

    assert kept == Decimal(cents)
    assert str(kept) == cents  # two places, exactly


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        ("0", "greater than 0"),
        ("-0.01", "greater than 0"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
        ("1000000000.01", "at most 1000000000"),
        ("1E+10", "at most 1000000000"),
        ("0.001", "at most 2 decimal places"),
        ("199.999", "at most 2 decimal places"),
    ],
)
def test_anything_else_is_refused_with_why(amount: str, why: str) -> None:
    with pytest.raises(InvalidAmount, match=why):
        in_cents(Decimal(amount))


@given(st.from_regex(AMOUNT_STRING_PATTERN, fullmatch=True))
def test_a_string_the_schema_allows_is_an_amount_unless_zero_or_over_the_limit(text: str) -> None:
    amount = Decimal(text)
    if 0 < amount <= Decimal(1_000_000_000):
        assert in_cents(amount) == amount
    else:
        with pytest.raises(InvalidAmount):
            in_cents(amount)


@given(st.decimals(min_value=0, max_value=10**11, places=3))
def test_the_schema_pattern_refuses_more_than_two_places(amount: Decimal) -> None:
    if amount != amount.quantize(Decimal("0.01")):
        assert re.fullmatch(AMOUNT_STRING_PATTERN, f"{amount:f}") is None
