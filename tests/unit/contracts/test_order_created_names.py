"""`OrderCreated` v1 refuses a customer name no Order Service would have accepted."""

from __future__ import annotations

import json
from uuid import uuid4

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_platform.contracts import SCHEMA_PATH, InvalidEvent, OrderCreatedV1

CONTROL = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]]
SCHEMA = json.loads(SCHEMA_PATH.read_text())


def _event(name: str) -> bytes:
    return json.dumps(
        {
            "eventId": str(uuid4()),
            "eventType": "OrderCreated",
            "eventVersion": 1,
            "occurredAt": "2026-11-25T08:00:00.000Z",
            "orderId": str(uuid4()),
            "customerName": name,
            "totalAmount": "199.90",
            "createdAt": "2026-11-25T08:00:00.000Z",
        }
    ).encode()


@given(
    before=st.text(max_size=20),
    control=st.sampled_from(CONTROL),
    after=st.text(max_size=20),
)
def test_guarantee_10_an_event_whose_name_holds_a_control_character_is_invalid(
    before: str, control: str, after: str
) -> None:
    """A forged event is dead-lettered (invalid), never logged or sent as it is."""
    name = f"a{before}{control}{after}a"

    with pytest.raises(InvalidEvent, match="customerName"):
        OrderCreatedV1.from_json(_event(name))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(_event(name)), SCHEMA)


@given(
    st.text(
        alphabet=st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"]),
        min_size=1,
        max_size=200,
    ).filter(lambda name: name == name.strip())
)
def test_any_other_trimmed_name_round_trips(name: str) -> None:
    event = OrderCreatedV1.from_json(_event(name))

    assert event.customer_name == name
    assert OrderCreatedV1.from_json(event.to_json()) == event
    jsonschema.validate(json.loads(event.to_json()), SCHEMA)
