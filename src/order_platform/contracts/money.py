"""What an amount of money may be (docs/design.md, `totalAmount`): one rule for the domain, the
event and the HTTP schemas. Pure: no framework, importable by any layer.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Final

MAX_AMOUNT: Final = Decimal(1_000_000_000)
DECIMAL_PLACES: Final = 2
CENT: Final = Decimal(1).scaleb(-DECIMAL_PLACES)  # 0.01
_MAX_INTEGER_DIGITS: Final = len(str(int(MAX_AMOUNT)))  # 10: "1000000000"
# JSON Schema pattern (ECMA-262) of an amount a request may write as a string, such as "199.9".
AMOUNT_STRING_PATTERN: Final = (
    rf"^[0-9]{{1,{_MAX_INTEGER_DIGITS}}}(\.[0-9]{{1,{DECIMAL_PLACES}}})?$"
)
# JSON Schema pattern of an amount as events write it: in cents, no leading zeros ("199.90").
CENTS_STRING_PATTERN: Final = (
    rf"^(0|[1-9][0-9]{{0,{_MAX_INTEGER_DIGITS - 1}}})\.[0-9]{{{DECIMAL_PLACES}}}$"
)


class InvalidAmount(ValueError):
    """Not an amount an order may have; the message completes "the amount …"."""


def in_cents(amount: Decimal) -> Decimal:
    """`amount` quantised to cents when it is finite, > 0, at most `MAX_AMOUNT` and has at most
    two decimal places; `InvalidAmount` says which of these it is not."""
    if not amount.is_finite():
        raise InvalidAmount("must be a finite number")
    if amount <= 0:
        raise InvalidAmount("must be greater than 0")
    if amount > MAX_AMOUNT:
        raise InvalidAmount(f"must be at most {MAX_AMOUNT}")
    try:
        cents = amount.quantize(CENT)
    except InvalidOperation:  # more digits than the decimal context can hold
        raise InvalidAmount("has too many digits") from None
    if cents != amount:
        raise InvalidAmount(f"must have at most {DECIMAL_PLACES} decimal places")
    return cents
