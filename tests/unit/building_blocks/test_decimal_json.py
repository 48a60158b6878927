"""The one JSON reader for what comes from outside: numbers are `Decimal`s that arithmetic can
take, or the text is refused as out of range; never an `InvalidOperation` or an `Overflow`."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_platform.building_blocks.http.decimal_json import (
    NotJson,
    NumberOutOfRange,
    parse_decimal,
    parse_json,
)

CENT = Decimal("0.01")

# Any JSON number: exponents far beyond what `Decimal` holds, as well as ordinary ones.
json_numbers = st.builds(
    lambda sign, digits, fraction, exponent: f"{sign}{digits}{fraction}{exponent}",
    st.sampled_from(["", "-"]),
    st.from_regex(r"\A(0|[1-9][0-9]{0,40})\Z"),
    st.sampled_from(["", ".5", ".000000000000000000000000000000001"]),
    st.one_of(
        st.just(""),
        st.integers(-(10**21), 10**21).map(lambda e: f"e{e}"),
        st.integers(-1_100_000, 1_100_000).map(lambda e: f"E{e:+d}"),
    ),
)


@given(json_numbers)
def test_guarantee_10_a_number_is_a_decimal_that_computes_or_out_of_range(text: str) -> None:
    try:
        number = parse_json(f'{{"n": {text}}}')["n"]
    except NumberOutOfRange:
        return
    amount = Decimal(number)
    # What the services do with a number: compare, quantize to cents, add, format.
    if abs(amount) <= 10**9:
        amount.quantize(CENT)
    _ = amount > 0, amount + 1, f"{amount:.2f}"


@pytest.mark.parametrize("text", ["1e9999999999999999999", "1e-9999999999999999999", "9" * 5000])
def test_guarantee_10_a_number_beyond_decimals_range_is_refused(text: str) -> None:
    with pytest.raises(NumberOutOfRange, match="out of range"):
        parse_json(f'[1, {{"unknown": {text}}}]'.encode())
    assert isinstance(NumberOutOfRange(text), ValueError)


def test_numbers_are_decimals_and_integers_ints() -> None:
    assert parse_json(b'{"a": 199.90, "b": 2, "c": "x"}') == {
        "a": Decimal("199.90"),
        "b": 2,
        "c": "x",
    }
    assert str(parse_json("199.90")) == "199.90"


@pytest.mark.parametrize("text", [b"NaN", b"[Infinity]", b"{", b"\xff", b"[" * 100_000])
def test_what_is_not_json_is_said_so(text: bytes) -> None:
    with pytest.raises(NotJson):
        parse_json(text)


@pytest.mark.parametrize(
    ("text", "expected"), [("199.90", Decimal("199.90")), ("-2e3", Decimal("-2E+3"))]
)
def test_a_numeric_string_reads_like_a_json_number(text: str, expected: Decimal) -> None:
    assert parse_decimal(text) == expected


@pytest.mark.parametrize("text", ["NaN", "Infinity", "1_000", "", " 1", "٣", "0x10", ".5"])
def test_a_numeric_string_is_a_json_number_and_nothing_else(text: str) -> None:
    with pytest.raises(ValueError, match="not a decimal number"):
        parse_decimal(text)


@pytest.mark.parametrize("text", ["1e9999999999999999999", "1e999999999999999999"])
def test_guarantee_10_a_numeric_string_beyond_decimals_range_is_refused(text: str) -> None:
    with pytest.raises(NumberOutOfRange):
        parse_decimal(text)
