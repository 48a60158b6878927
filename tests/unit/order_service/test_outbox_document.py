"""How an outbox entry is stored in its order's document: only what cannot be derived."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

from order_platform.contracts import event_headers
from order_platform.order_service.outbox.entry import OutboxEntry

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def entry(**changes: object) -> OutboxEntry:
    order_id = str(uuid4())
    fields: dict[str, object] = {
        "order_id": order_id,
        "event_id": str(uuid4()),
        "key": order_id.encode(),
        "value": b'{"eventType": "OrderCreated"}',
        "headers": tuple(event_headers(correlation_id="req-1")),
        "lease_owner": "relay-a",
        "lease_until": NOW,
        "created_at": NOW,
    } | changes
    return OutboxEntry(**fields)  # type: ignore[arg-type]


def stored(outbox: OutboxEntry) -> dict[str, object]:
    return {"_id": outbox.order_id, "createdAt": outbox.created_at, "outbox": outbox.to_document()}


def test_the_key_and_the_standard_headers_are_derived_not_stored() -> None:
    standard = entry()

    document = standard.to_document()

    assert set(document) == {"eventId", "value", "leaseOwner", "leaseUntil", "correlationId"}
    assert OutboxEntry.from_order_document(stored(standard)) == standard
    without_correlation = entry(headers=tuple(event_headers()), traceparent="00-ab-cd-01")
    assert "correlationId" not in without_correlation.to_document()
    assert OutboxEntry.from_order_document(stored(without_correlation)) == without_correlation


def test_anything_that_cannot_be_derived_is_stored_as_it_is() -> None:
    unusual = entry(key=b"another key", headers=(("x-extra", b"\x00\xff"),))

    document = unusual.to_document()

    assert document["key"] == b"another key"
    assert document["headers"] == [["x-extra", b"\x00\xff"]]
    assert OutboxEntry.from_order_document(stored(unusual)) == unusual


def test_an_entry_stored_in_the_earlier_shape_reads_back_the_same() -> None:
    earlier = entry()
    document = stored(earlier)
    document["outbox"] = {
        "eventId": earlier.event_id,
        "key": earlier.key,
        "value": earlier.value,
        "headers": [[name, value] for name, value in earlier.headers],
        "leaseOwner": earlier.lease_owner,
        "leaseUntil": earlier.lease_until,
        "traceparent": None,
    }

    assert OutboxEntry.from_order_document(document) == earlier


def test_a_transitions_event_is_queued_with_its_type_derived_from_its_value() -> None:
    creation = entry()
    cancelled = entry(
        order_id=creation.order_id,
        key=creation.key,
        value=b'{"eventType": "OrderCancelled"}',
        headers=tuple(event_headers(correlation_id="req-2", event_type="OrderCancelled")),
        created_at=NOW.replace(hour=13),
        transition=True,
    )
    document = stored(creation)
    document["outbox"]["pending"] = [cancelled.event_document()]  # type: ignore[index]

    assert set(cancelled.event_document()) == {"eventId", "value", "correlationId", "occurredAt"}
    assert OutboxEntry.unpublished_of(document) == [creation, cancelled]
    del document["outbox"]["value"]  # type: ignore[attr-defined]  # the creation is published
    assert OutboxEntry.unpublished_of(document) == [cancelled]
