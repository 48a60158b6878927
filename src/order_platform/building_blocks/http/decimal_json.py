"""JSON as the platform reads it from outside (request bodies, exports, dead-letter headers):
numbers as `Decimal`, never float, and only numbers that `Decimal` arithmetic can take.

`Decimal("1e9999999999999999999")` raises `InvalidOperation` (not a `ValueError`), and one
that parses, `1e999999999999999999`, makes a later `quantize` or sum raise: both are refused
here, at the edge, as `NumberOutOfRange` (guarantee 10: out-of-range input is never a 5xx).
"""

from __future__ import annotations

import json
import re
from decimal import Context, Decimal, InvalidOperation
from typing import Any

# The default context's range (exponents within ±999,999), what every computation uses.
RANGE = Context()
# A JSON number, as a numeric string may spell it too: ASCII digits only, no `_`, no NaN.
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", re.ASCII)
_SHOWN = 40  # characters of a refused number quoted back


class NotJson(ValueError):
    """The text is not a JSON document."""


class NumberOutOfRange(NotJson):
    """A number beyond what `Decimal` arithmetic can take."""

    def __init__(self, text: str) -> None:
        shown = text if len(text) <= _SHOWN else f"{text[:_SHOWN]}…"
        super().__init__(
            f"the number {shown} is out of range (exponents from {RANGE.Emin} to {RANGE.Emax})"
        )


def parse_json(document: bytes | str) -> Any:
    """The JSON value of `document`, every number a `Decimal` (integers an `int`) in range."""

    def reject_constant(name: str) -> Any:
        raise NotJson(f"{name} is not a number")

    try:
        return json.loads(
            document,
            parse_float=_decimal,
            parse_int=_integer,
            parse_constant=reject_constant,
        )
    except NotJson:
        raise
    except (ValueError, RecursionError) as error:
        raise NotJson(str(error)) from error


def parse_decimal(text: str) -> Decimal:
    """A numeric string (`"199.90"`, `"2e3"`) as a `Decimal` in range; `ValueError` otherwise."""
    if _NUMBER.fullmatch(text) is None:
        raise ValueError(f"{text[:_SHOWN]!r} is not a decimal number")
    return _decimal(text)


def _decimal(text: str) -> Decimal:
    try:
        number = Decimal(text)
    except InvalidOperation:  # an exponent beyond even what the constructor holds
        raise NumberOutOfRange(text) from None
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # the grammar admits finite numbers only
    if exponent < RANGE.Etiny() or number.adjusted() > RANGE.Emax:
        raise NumberOutOfRange(text)
    return number


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise NumberOutOfRange(text) from None
