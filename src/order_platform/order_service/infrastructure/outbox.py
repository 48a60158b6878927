"""The transactional outbox, kept inside each order's own document.

A single-document write is atomic on every MongoDB (no replica set needed) and needs no
multi-document transaction, so the order and its event are stored together or not at all.

Each entry carries its relay's name and a sequence number that relay gave it. A relay does
not touch an entry again once the broker acknowledged it: instead its heartbeat records how
far it has published (`publishedUpTo`, see `relay_registry`), so the bookkeeping costs one
write per heartbeat, not one per order. What is left to publish is therefore an entry whose
number is above its relay's mark (or listed as expected) and whose lease ran out; a sweep
claims such entries, one replica each by a compare-and-set, and numbers them anew as its own.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from order_platform.building_blocks.clock import SystemClock
from order_platform.building_blocks.correlation import current_correlation_id
from order_platform.building_blocks.tracing import current_traceparent
from order_platform.contracts import OrderCreatedV1, event_headers
from order_platform.order_service.application.ports import Clock
from order_platform.order_service.domain import Order, OrderCreated

Document = dict[str, Any]

LEASE_FIELD = "outbox.leaseUntil"
OWNER_FIELD = "outbox.leaseOwner"
SEQ_FIELD = "outbox.seq"
# Marks an order id whose insert was given up on (see `MongoOutbox.fence`).
FENCED_FIELD = "fencedEventId"


@dataclass(frozen=True, slots=True)
class Unpublished:
    """What of one relay's entries may still be unpublished: every number above `mark`, and
    the `expected` ones (inserts whose outcome it does not know yet)."""

    mark: int
    expected: tuple[int, ...] = ()


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
    seq: int = 0  # numbered by the relay that owns it; see `Unpublished`

    @classmethod
    def for_event(
        cls,
        event: OrderCreated,
        *,
        owner: str,
        lease_until: datetime,
        seq: int = 0,
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
            seq=seq,
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
            "seq": self.seq,
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
            seq=outbox.get("seq", 0),
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

    def new_entry(self, order: Order, seq: int) -> OutboxEntry:
        """The entry of `order`'s event, leased to us; called inside the request, so that its
        correlation id and trace travel with the event."""
        (event,) = order.events
        return OutboxEntry.for_event(
            event,
            owner=self.owner,
            lease_until=self._clock.now() + self.lease,
            seq=seq,
            correlation_id=current_correlation_id.get(),
            traceparent=current_traceparent(),
        )

    async def ensure_indexes(self) -> None:
        # Real MongoDB answers the sweep ("this relay's entries above its mark") from this.
        await self._orders.create_index([(OWNER_FIELD, 1), (SEQ_FIELD, 1)], name="outbox_seq")

    async def renew(self, entry: OutboxEntry, now: datetime) -> OutboxEntry | None:
        """Extend our lease; `None` when the entry is not ours (claimed, or not stored)."""
        lease_until = now + self.lease
        result = await self._orders.update_one(
            {"_id": entry.order_id, "outbox.eventId": entry.event_id, OWNER_FIELD: self.owner},
            {"$set": {LEASE_FIELD: lease_until}},
        )
        return replace(entry, lease_until=lease_until) if result.matched_count else None

    async def claim_expired(
        self,
        now: datetime,
        limit: int,
        *,
        unpublished: Mapping[str, Unpublished],
        new_seq: Callable[[], int],
        published: Collection[int] = (),
    ) -> list[OutboxEntry]:
        """Take over the possibly unpublished entries of these relays whose lease ran out; a
        compare-and-set, so one replica wins each, numbering those of other relays anew. Our
        own numbers in `published` (acknowledged above our mark) are skipped.

        Fewer than `limit` means none is left: entries another replica won in between are
        looked past (they hold a fresh lease now), so the caller's sweep is complete.
        """
        if not unpublished:
            return []
        query = {LEASE_FIELD: {"$lt": now}, "$or": _unpublished_clauses(unpublished)}
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
                if entry.lease_owner == self.owner and entry.seq in published:
                    continue
                # Ours keep their number (it is still unresolved with us); others' get one.
                seq = entry.seq if entry.lease_owner == self.owner else new_seq()
                lease_until = now + self.lease
                result = await self._orders.update_one(
                    {
                        "_id": entry.order_id,
                        "outbox.eventId": entry.event_id,
                        LEASE_FIELD: entry.lease_until,
                    },
                    {"$set": {OWNER_FIELD: self.owner, LEASE_FIELD: lease_until, SEQ_FIELD: seq}},
                )
                if result.matched_count:
                    claimed.append(
                        replace(entry, lease_owner=self.owner, lease_until=lease_until, seq=seq)
                    )
            if found < wanted:
                break
        return claimed

    async def holds_unpublished(self, owner: str, unpublished: Unpublished) -> bool:
        """Whether any entry of `owner` may still be unpublished, whatever its lease."""
        query = {"$or": _unpublished_clauses({owner: unpublished})}
        return await self._orders.find_one(query, {"_id": 1}) is not None

    async def fence(self, entry: OutboxEntry) -> bool:
        """Make sure an insert whose outcome stayed unknown can never land any more.

        True: it had not landed, and now cannot (a placeholder holds its `_id`; a retry of the
        same request may still replace it, see `write_model`). False: it is stored.
        """
        try:
            await self._orders.insert_one({"_id": entry.order_id, FENCED_FIELD: entry.event_id})
        except DuplicateKeyError:
            return False
        return True


def _unpublished_clauses(unpublished: Mapping[str, Unpublished]) -> list[Document]:
    clauses: list[Document] = []
    for owner, what in unpublished.items():
        clauses.append({OWNER_FIELD: owner, SEQ_FIELD: {"$gt": what.mark}})
        if what.expected:
            clauses.append({OWNER_FIELD: owner, SEQ_FIELD: {"$in": list(what.expected)}})
    return clauses
