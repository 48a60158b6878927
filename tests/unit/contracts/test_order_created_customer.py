"""`customerId`, the optional field added to `OrderCreated` v1: present when the order was
placed with a token, absent otherwise and in every older event; checked like a name."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from order_platform.contracts import SCHEMA_PATH, InvalidEvent, OrderCreatedV1

SCHEMA = json.loads(SCHEMA_PATH.read_text())
AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def event(customer_id: str | None) -> OrderCreatedV1:
    return OrderCreatedV1(
        event_id=uuid4(),
        occurred_at=AT,
        order_id=uuid4(),
        customer_name="Lucas",
        total_amount=Decimal("199.90"),
        created_at=AT,
        customer_id=customer_id,
    )


def test_without_a_customer_the_message_is_what_version_1_always_was() -> None:
    message = json.loads(event(None).to_json())

    assert "customerId" not in message
    jsonschema.validate(message, SCHEMA)
    assert OrderCreatedV1.from_json(json.dumps(message)).customer_id is None  # older events


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=255))
def test_a_customer_round_trips_and_matches_the_schema(customer_id: str) -> None:
    if any(c in customer_id for c in "\u2028\u2029"):
        return
    message = event(customer_id).to_json()

    jsonschema.validate(json.loads(message), SCHEMA)
    assert OrderCreatedV1.from_json(message).customer_id == customer_id


@pytest.mark.parametrize("bad", ["", "x" * 256, "eve\nforged", "\x1b[31m", 42])
def test_an_unusable_customer_is_an_invalid_event(bad: object) -> None:
    message = json.loads(event("alice").to_json()) | {"customerId": bad}

    with pytest.raises(InvalidEvent):
        OrderCreatedV1.from_json(json.dumps(message))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(message, SCHEMA)


def test_a_customer_with_a_lone_surrogate_is_an_invalid_event() -> None:
    # JSON can escape half a UTF-16 pair; such text can be neither stored nor republished.
    message = json.loads(event("alice").to_json()) | {"customerId": "ali\ud800ce"}

    with pytest.raises(InvalidEvent):
        OrderCreatedV1.from_json(json.dumps(message))
