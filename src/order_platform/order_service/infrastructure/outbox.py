"""The transactional outbox, kept inside each order's own document.

A single-document write is atomic on every MongoDB (no replica set needed) and needs no
multi-document transaction, so the order and its event are stored together or not at all.
The relay that wrote an entry holds a lease on it; when the lease runs out (the writer died
or lost the broker for long), any replica's sweep may claim it. Published entries are
removed, so the sweep's query only ever sees what is still pending.
"""

from __future__ import annotations

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

LEASE_FIELD = "outbox.leaseUntil"


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
        return {
            "eventId": self.event_id,
            "key": self.key,
            "value": self.value,
            "headers": [[name, value] for name, value in self.headers],
            "leaseOwner": self.lease_owner,
            "leaseUntil": self.lease_until,
            "traceparent": self.traceparent,
        }

    @classmethod
    def from_order_document(cls, document: Document) -> OutboxEntry:
        outbox = document["outbox"]
        return cls(
            order_id=document["_id"],
            event_id=outbox["eventId"],
            key=bytes(outbox["key"]),
            value=bytes(outbox["value"]),
            headers=tuple((name, bytes(value)) for name, value in outbox["headers"]),
            lease_owner=outbox["leaseOwner"],
            lease_until=outbox["leaseUntil"],
            created_at=document["createdAt"],
            traceparent=outbox.get("traceparent"),
        )


class MongoOutbox:
    """Lease and removal operations on outbox entries, all by `_id` (cheap everywhere)."""

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
        # Real MongoDB answers the sweep from this index; the sparse index holds only the
        # pending entries, because published ones lose their `outbox` field.
        await self._orders.create_index(LEASE_FIELD, sparse=True, name="outbox_lease")

    async def remove_published(self, entries: list[OutboxEntry]) -> None:
        if entries:
            await self._orders.bulk_write(
                [
                    UpdateOne(
                        {"_id": entry.order_id, "outbox.eventId": entry.event_id},
                        {"$unset": {"outbox": ""}},
                    )
                    for entry in entries
                ],
                ordered=False,
            )

    async def renew(self, entry: OutboxEntry, now: datetime) -> OutboxEntry | None:
        """Extend our lease; `None` when the entry is no longer ours (claimed or published)."""
        lease_until = now + self.lease
        result = await self._orders.update_one(
            {
                "_id": entry.order_id,
                "outbox.eventId": entry.event_id,
                "outbox.leaseOwner": self.owner,
            },
            {"$set": {LEASE_FIELD: lease_until}},
        )
        return replace(entry, lease_until=lease_until) if result.matched_count else None

    async def claim_expired(self, now: datetime, limit: int) -> list[OutboxEntry]:
        """Take over entries whose lease ran out; a compare-and-set so one replica wins each.

        Fewer than `limit` means none expired is left: entries another replica won in between
        are looked past (they hold a fresh lease now), so the caller's sweep is complete.
        """
        claimed: list[OutboxEntry] = []
        while len(claimed) < limit:
            wanted = limit - len(claimed)
            expired = self._orders.find(
                {LEASE_FIELD: {"$lt": now}}, {"outbox": 1, "createdAt": 1}, limit=wanted
            )
            found = 0
            async for document in expired:
                found += 1
                entry = OutboxEntry.from_order_document(document)
                lease_until = now + self.lease
                result = await self._orders.update_one(
                    {
                        "_id": entry.order_id,
                        "outbox.eventId": entry.event_id,
                        LEASE_FIELD: entry.lease_until,
                    },
                    {"$set": {"outbox.leaseOwner": self.owner, LEASE_FIELD: lease_until}},
                )
                if result.matched_count:
                    claimed.append(replace(entry, lease_owner=self.owner, lease_until=lease_until))
            if found < wanted:
                break
        return claimed
