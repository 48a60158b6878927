"""The transactional outbox, kept inside each order's own document.

A single-document write is atomic on every MongoDB (no replica set needed) and needs no
multi-document transaction, so the order and its event are stored together or not at all.

An entry is unpublished exactly while it has a lease (`outbox.leaseUntil`): the relay that
holds it publishes it, and once the broker acknowledged it, removes the lease (one update by
`_id`, batched per publish). So "may still be unpublished" is a fact of the document alone,
not of any relay's memory or bookkeeping: whatever crashed, paused or timed out, an entry
whose lease ran out is claimed by the next sweep of any relay (a compare-and-set on the lease,
so one replica wins each) and published. At worst an entry is published twice (its relay died
between the broker's acknowledgement and the update, or was paused past its lease); consumers
deduplicate by `eventId`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from order_platform.building_blocks.clock import SystemClock
from order_platform.building_blocks.correlation import current_correlation_id
from order_platform.building_blocks.tracing import current_traceparent
from order_platform.contracts import OrderCreatedV1, event_headers
from order_platform.order_service.application.ports import Clock
from order_platform.order_service.domain import Order, OrderCreated

Document = dict[str, Any]

LEASE_FIELD = "outbox.leaseUntil"  # present exactly while the entry is unpublished
OWNER_FIELD = "outbox.leaseOwner"
# Earlier versions fenced off an order id whose insert was given up on with a placeholder
# document of this field; such placeholders are still read as "no order" (see `write_model`).
FENCED_FIELD = "fencedEventId"
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


class MongoOutbox:
    """Lease operations on outbox entries; the hot ones are by `_id` (cheap everywhere)."""

    def __init__(
        self,
        orders: AsyncCollection[Document],
        *,
        owner: str,
        lease: timedelta,
        clock: Clock | None = None,
    ) -> None:
        self._orders = orders
        self.owner = owner
        self.lease = lease
        self._clock = clock or SystemClock()

    def new_entry(self, order: Order) -> OutboxEntry:
        """The entry of `order`'s event, leased to us; called inside the request, so that its
        correlation id and trace travel with the event."""
        (event,) = order.events
        return OutboxEntry.for_event(
            event,
            owner=self.owner,
            lease_until=self._clock.now() + self.lease,
            correlation_id=current_correlation_id.get(),
            traceparent=current_traceparent(),
        )

    async def ensure_indexes(self) -> None:
        # Real MongoDB answers the sweep ("leases that ran out") from this; published entries
        # have no lease, so the index holds only what is still to be published.
        await self._orders.create_index(LEASE_FIELD, name="outbox_lease", sparse=True)

    async def renew(self, entry: OutboxEntry, now: datetime) -> OutboxEntry | None:
        """Extend our lease; `None` when the entry is not ours (claimed, published or not
        stored)."""
        lease_until = now + self.lease
        result = await self._orders.update_one(
            {"_id": entry.order_id, "outbox.eventId": entry.event_id, OWNER_FIELD: self.owner},
            {"$set": {LEASE_FIELD: lease_until}},
        )
        return replace(entry, lease_until=lease_until) if result.matched_count else None

    async def claim_expired(self, now: datetime, limit: int) -> list[OutboxEntry]:
        """Take over unpublished entries whose lease ran out, whoever held them; a
        compare-and-set on the lease, so one replica wins each.

        Fewer than `limit` means none is left: entries another replica won in between are
        looked past (they hold a fresh lease now), so the caller's sweep is complete.
        """
        query = {LEASE_FIELD: {"$lt": now}}
        claimed: list[OutboxEntry] = []
        seen: set[str] = set()
        while len(claimed) < limit:
            wanted = limit - len(claimed)
            expired = self._orders.find(
                query, {"outbox": 1, "createdAt": 1}, limit=wanted + len(seen)
            )
            found = 0
            async for document in expired:
                entry = OutboxEntry.from_order_document(document)
                if entry.event_id in seen:
                    continue
                seen.add(entry.event_id)
                found += 1
                lease_until = now + self.lease
                result = await self._orders.update_one(
                    {
                        "_id": entry.order_id,
                        "outbox.eventId": entry.event_id,
                        LEASE_FIELD: entry.lease_until,
                    },
                    {"$set": {OWNER_FIELD: self.owner, LEASE_FIELD: lease_until}},
                )
                if result.matched_count:
                    claimed.append(replace(entry, lease_owner=self.owner, lease_until=lease_until))
            if found < wanted:
                break
        return claimed

    async def mark_published(self, entries: Sequence[OutboxEntry]) -> None:
        """The broker acknowledged these: they have no lease any more, so no sweep finds them.
        What the event was is no longer needed either; its id stays (the read model's rebuild
        and a lost insert's read-back use it)."""
        if not entries:
            return
        await self._orders.bulk_write(
            [
                UpdateOne(
                    {"_id": entry.order_id, "outbox.eventId": entry.event_id},
                    {"$unset": dict.fromkeys(PUBLISHED_DROPS, "")},
                )
                for entry in entries
            ],
            ordered=False,
        )
