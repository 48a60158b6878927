"""An outbox entry: an event its order's document carries until it is published.

The entries live inside their order's own document: a single-document write is atomic on every
MongoDB (no replica set needed) and needs no multi-document transaction, so the order and its
event are stored together or not at all, at creation and at every transition.

The creation's event is `outbox` itself; a transition's event is queued in `outbox.pending`,
in version order. One lease per document (`outbox.leaseUntil`, `outbox.leaseOwner`) covers
them all, so one relay at a time publishes an order's events, in order. The document may
still have an unpublished event exactly while it has that lease: the relay that holds it
publishes the events and, once the broker acknowledged the last, removes the lease. So whether
an event still has to be published is a fact of the document alone, not of any relay's memory;
`UNPUBLISHED` is that rule as a query, for the relays' sweeps and for whoever counts what is
left. At worst an event is published twice (its relay died between the broker's
acknowledgement and the update, or was paused past its lease); consumers deduplicate by
`eventId`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from order_platform.contracts import OrderCreatedV1, event_headers
from order_platform.contracts.order_events import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderEventV1,
    OrderShippedV1,
)
from order_platform.order_service.domain import (
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderEvent,
    OrderShipped,
)

Document = dict[str, Any]

LEASE_FIELD = "outbox.leaseUntil"  # present exactly while the entry may be unpublished
OWNER_FIELD = "outbox.leaseOwner"
PENDING_FIELD = "outbox.pending"  # transitions' events not yet published, in version order
# Earlier versions fenced off an order id whose insert was given up on with a placeholder
# document of this field; such placeholders are still read as "no order" (see `write_model`).
FENCED_FIELD = "fencedEventId"
# Orders whose entry may still be unpublished: the one definition, for sweeps and counts.
UNPUBLISHED: Document = {LEASE_FIELD: {"$exists": True}}
# What a published creation's entry no longer needs: all but its event id. Its lease goes
# too when no transition is pending behind it (`LEASE_DROPS`).
PAYLOAD_DROPS = tuple(
    f"outbox.{name}" for name in ("value", "correlationId", "traceparent", "headers", "key", "seq")
)
LEASE_DROPS = (LEASE_FIELD, OWNER_FIELD, PENDING_FIELD)
PUBLISHED_DROPS = LEASE_DROPS + PAYLOAD_DROPS


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    order_id: str
    event_id: str
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]
    lease_owner: str
    lease_until: datetime
    created_at: datetime  # when its event happened: the order's creation, or the transition
    traceparent: str | None = None  # of the request that recorded the event
    transition: bool = False  # queued in `outbox.pending`, not the creation's own entry

    @classmethod
    def for_event(
        cls,
        event: OrderEvent,
        *,
        owner: str,
        lease_until: datetime,
        correlation_id: str | None = None,
        traceparent: str | None = None,
    ) -> OutboxEntry:
        message = _message(event)
        return cls(
            order_id=str(event.order_id),
            event_id=str(event.event_id),
            key=str(event.order_id).encode(),
            value=message.to_json(),
            headers=tuple(
                event_headers(correlation_id=correlation_id, event_type=message.event_type)
            ),
            lease_owner=owner,
            lease_until=lease_until,
            created_at=message.occurred_at,
            traceparent=traceparent,
            transition=not isinstance(event, OrderCreated),
        )

    def to_document(self) -> Document:
        """The creation's entry as stored: its event and the document's lease."""
        return {
            **self.event_document(),
            "leaseOwner": self.lease_owner,
            "leaseUntil": self.lease_until,
        }

    def event_document(self) -> Document:
        """Only what cannot be derived: the key is the order id and the headers are the
        standard ones for the correlation id, unless they are not (then stored as they are).
        Every value stored costs the embedded server's insert time; none is read on the hot path."""
        document: Document = {"eventId": self.event_id, "value": self.value}
        headers = dict(self.headers)
        correlation = headers.get("correlation-id")
        correlation_id = correlation.decode() if correlation else None
        event_type = headers.get("event-type", b"").decode()
        standard = event_headers(correlation_id=correlation_id, event_type=event_type)
        if list(self.headers) == standard and event_type == _stored_type(self):
            if correlation_id:
                document["correlationId"] = correlation_id
        else:
            document["headers"] = [[name, value] for name, value in self.headers]
        if self.key != self.order_id.encode():
            document["key"] = self.key
        if self.traceparent is not None:
            document["traceparent"] = self.traceparent
        if self.transition:
            document["occurredAt"] = self.created_at
        return document

    @classmethod
    def from_order_document(cls, document: Document) -> OutboxEntry:
        """The creation's entry (unpublished: its value is still there)."""
        outbox = document["outbox"]
        return cls._read(document, outbox, outbox["eventId"], document["createdAt"], False)

    @classmethod
    def unpublished_of(cls, document: Document) -> list[OutboxEntry]:
        """Every unpublished event a leased document carries, in the order to publish them:
        the creation's first (while its value is there), then the queued transitions."""
        outbox = document["outbox"]
        entries = [cls.from_order_document(document)] if "value" in outbox else []
        for event in outbox.get("pending", ()):
            entries.append(cls._read(document, event, event["eventId"], event["occurredAt"], True))
        return entries

    @classmethod
    def _read(
        cls, document: Document, event: Document, event_id: str, at: datetime, transition: bool
    ) -> OutboxEntry:
        outbox = document["outbox"]
        if "headers" in event:  # also every entry stored before the headers were derived
            headers = tuple((name, bytes(value)) for name, value in event["headers"])
        else:
            headers = tuple(
                event_headers(
                    correlation_id=event.get("correlationId"),
                    event_type=_event_type(bytes(event["value"])) if transition else "OrderCreated",
                )
            )
        return cls(
            order_id=document["_id"],
            event_id=event_id,
            key=bytes(event["key"]) if "key" in event else document["_id"].encode(),
            value=bytes(event["value"]),
            headers=headers,
            lease_owner=outbox["leaseOwner"],
            lease_until=outbox["leaseUntil"],
            created_at=at,
            traceparent=event.get("traceparent"),
            transition=transition,
        )


def _message(event: OrderEvent) -> OrderEventV1:
    """The integration event (published language) of a domain event."""
    match event:
        case OrderCreated():
            return OrderCreatedV1(
                event_id=event.event_id,
                occurred_at=event.created_at,
                order_id=event.order_id,
                customer_name=event.customer_name,
                total_amount=event.total_amount,
                created_at=event.created_at,
                customer_id=event.customer_id,
            )
        case OrderConfirmed():
            return OrderConfirmedV1(
                event_id=event.event_id,
                occurred_at=event.occurred_at,
                order_id=event.order_id,
                order_version=event.order_version,
                customer_id=event.customer_id,
            )
        case OrderShipped():
            return OrderShippedV1(
                event_id=event.event_id,
                occurred_at=event.occurred_at,
                order_id=event.order_id,
                order_version=event.order_version,
                customer_id=event.customer_id,
                tracking_number=event.tracking_number,
            )
        case OrderCancelled():
            return OrderCancelledV1(
                event_id=event.event_id,
                occurred_at=event.occurred_at,
                order_id=event.order_id,
                order_version=event.order_version,
                customer_id=event.customer_id,
                reason=event.reason,
            )


def _event_type(value: bytes) -> str:
    """A stored transition's type, from its own value (so it need not be stored twice)."""
    return str(json.loads(value)["eventType"])


def _stored_type(entry: OutboxEntry) -> str:
    return _event_type(entry.value) if entry.transition else "OrderCreated"
