"""An outbox entry: the event an order's document carries until it is published.

The entry lives inside its order's own document: a single-document write is atomic on every
MongoDB (no replica set needed) and needs no multi-document transaction, so the order and its
event are stored together or not at all.

An entry may still be unpublished exactly while it has a lease (`outbox.leaseUntil`): the relay
that holds it publishes it and, once the broker acknowledged it, removes the lease. So whether
an event still has to be published is a fact of the document alone, not of any relay's memory;
`UNPUBLISHED` is that rule as a query, for the relays' sweeps and for whoever counts what is
left. At worst an entry is published twice (its relay died between the broker's
acknowledgement and the update, or was paused past its lease); consumers deduplicate by
`eventId`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from order_platform.contracts import OrderCreatedV1, event_headers
from order_platform.order_service.domain import OrderCreated

Document = dict[str, Any]

LEASE_FIELD = "outbox.leaseUntil"  # present exactly while the entry may be unpublished
OWNER_FIELD = "outbox.leaseOwner"
# Earlier versions fenced off an order id whose insert was given up on with a placeholder
# document of this field; such placeholders are still read as "no order" (see `write_model`).
FENCED_FIELD = "fencedEventId"
# Orders whose entry may still be unpublished: the one definition, for sweeps and counts.
UNPUBLISHED: Document = {LEASE_FIELD: {"$exists": True}}
# What a published entry no longer needs: all but its event id.
PUBLISHED_DROPS = tuple(
    f"outbox.{name}"
    for name in (
        "leaseUntil",
        "leaseOwner",
        "value",
        "correlationId",
        "traceparent",
        "headers",
        "key",
        "seq",
    )
)


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    order_id: str
    event_id: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    lease_owner: str
    lease_until: datetime
    created_at: datetime
    traceparent: str | None = None  # of the request that created the order

    @classmethod
    def for_event(
        cls,
        event: OrderCreated,
        *,
        owner: str,
        lease_until: datetime,
        correlation_id: str | None = None,
        traceparent: str | None = None,
    ) -> OutboxEntry:
        message = OrderCreatedV1(
            event_id=event.event_id,
            occurred_at=event.created_at,
            order_id=event.order_id,
            customer_name=event.customer_name,
            total_amount=event.total_amount,
            created_at=event.created_at,
            customer_id=event.customer_id,
        )
        return cls(
            order_id=str(event.order_id),
            event_id=str(event.event_id),
            key=str(event.order_id).encode(),
            value=message.to_json(),
            headers=tuple(event_headers(correlation_id=correlation_id)),
            lease_owner=owner,
            lease_until=lease_until,
            created_at=event.created_at,
            traceparent=traceparent,
        )

    def to_document(self) -> Document:
        """Only what cannot be derived: the key is the order id and the headers are the
        standard ones for the correlation id, unless they are not (then stored as they are).
        Every value stored costs the embedded server's insert time; none is read on the hot path."""
        document: Document = {
            "eventId": self.event_id,
            "value": self.value,
            "leaseOwner": self.lease_owner,
            "leaseUntil": self.lease_until,
        }
        correlation = dict(self.headers).get("correlation-id")
        correlation_id = correlation.decode() if correlation else None
        if list(self.headers) == event_headers(correlation_id=correlation_id):
            if correlation_id:
                document["correlationId"] = correlation_id
        else:
            document["headers"] = [[name, value] for name, value in self.headers]
        if self.key != self.order_id.encode():
            document["key"] = self.key
        if self.traceparent is not None:
            document["traceparent"] = self.traceparent
        return document

    @classmethod
    def from_order_document(cls, document: Document) -> OutboxEntry:
        outbox = document["outbox"]
        if "headers" in outbox:  # also every entry stored before the headers were derived
            headers = tuple((name, bytes(value)) for name, value in outbox["headers"])
        else:
            headers = tuple(event_headers(correlation_id=outbox.get("correlationId")))
        return cls(
            order_id=document["_id"],
            event_id=outbox["eventId"],
            key=bytes(outbox["key"]) if "key" in outbox else document["_id"].encode(),
            value=bytes(outbox["value"]),
            headers=headers,
            lease_owner=outbox["leaseOwner"],
            lease_until=outbox["leaseUntil"],
            created_at=document["createdAt"],
            traceparent=outbox.get("traceparent"),
        )
