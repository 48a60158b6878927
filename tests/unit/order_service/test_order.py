from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_platform.order_service.domain import InvalidOrderField, Order, OrderCreated

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def create(name: str = "Lucas", amount: str = "199.90") -> Order:
    return Order.create(
        order_id=uuid4(),
        event_id=uuid4(),
        customer_name=name,
        total_amount=Decimal(amount),
        now=NOW,
    )


def test_a_new_order_records_order_created() -> None:
    order = create("  Lucas  ", "199.9")

    assert order.customer_name == "Lucas"
    assert order.total_amount == Decimal("199.90")
    assert str(order.total_amount) == "199.90"
    assert order.events == [
        OrderCreated(
            event_id=order.events[0].event_id,
            order_id=order.id,
            customer_name="Lucas",
            total_amount=Decimal("199.90"),
            created_at=NOW,
        )
    ]


@pytest.mark.parametrize(
    ("name", "amount", "field"),
    [
        ("", "1", "customer_name"),
        ("   \t\n", "1", "customer_name"),
        ("x" * 201, "1", "customer_name"),
        ("Lucas", "0", "total_amount"),
        ("Lucas", "-1", "total_amount"),
        ("Lucas", "0.001", "total_amount"),
        ("Lucas", "1.005", "total_amount"),
        ("Lucas", "1000000000.01", "total_amount"),
        ("Lucas", "1E+30", "total_amount"),
        ("Lucas", "NaN", "total_amount"),
        ("Lucas", "Infinity", "total_amount"),
        ("Lucas", "-Infinity", "total_amount"),
        ("Lucas", "1.0000000000000000000000000000001", "total_amount"),
    ],
)
def test_an_invalid_order_cannot_exist(name: str, amount: str, field: str) -> None:
    with pytest.raises(InvalidOrderField) as raised:
        create(name, amount)
    assert raised.value.field == field


@pytest.mark.parametrize("name", ["x" * 200, "  " + "x" * 200 + "  ", "Zoë 李", "a"])
def test_names_within_limits_are_kept_intact_after_trimming(name: str) -> None:
    assert create(name).customer_name == name.strip()


@pytest.mark.parametrize("amount", ["0.01", "1", "1000000000", "1000000000.00", "12.5"])
def test_amounts_within_limits_are_accepted(amount: str) -> None:
    assert create(amount=amount).total_amount == Decimal(amount)


@given(cents=st.integers(min_value=1, max_value=100_000_000_000))
def test_every_whole_number_of_cents_up_to_the_limit_is_accepted(cents: int) -> None:
    amount = Decimal(cents).scaleb(-2)
    assert create(amount=str(amount)).total_amount == amount


@given(amount=st.decimals(allow_nan=True, allow_infinity=True))
def test_amount_validation_never_fails_with_anything_but_a_domain_error(amount: Decimal) -> None:
    try:
        order = create(amount=str(amount))
    except InvalidOrderField:
        return
    assert 0 < order.total_amount <= 1_000_000_000
    assert order.total_amount == order.total_amount.quantize(Decimal("0.01"))


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        Order.create(
            order_id=uuid4(),
            event_id=uuid4(),
            customer_name="Lucas",
            total_amount=Decimal(1),
            now=datetime(2026, 1, 1),
        )


CONTROL_CHARACTERS = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]]


@pytest.mark.parametrize("control", CONTROL_CHARACTERS, ids=lambda c: f"U+{ord(c):04X}")
@pytest.mark.parametrize("where", ["inside", "leading", "trailing"])
def test_guarantee_10_a_name_with_a_control_character_cannot_exist(
    control: str, where: str
) -> None:
    name = {
        "inside": f"Lu{control}cas",
        "leading": f"{control}Lucas",
        "trailing": f"Lucas{control}",
    }

    with pytest.raises(InvalidOrderField, match="control character") as refused:
        create(name[where])
    assert refused.value.field == "customer_name"
    assert control not in str(refused.value)  # the error does not quote the character


@given(
    st.text(
        alphabet=st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"]), min_size=1, max_size=50
    ).filter(str.strip)
)
def test_names_without_control_characters_are_accepted(name: str) -> None:
    assert create(name).customer_name == name.strip()
