"""The outbox entries as stored in MongoDB, and the lease operations the relays run on them.

An entry is unpublished while it has a lease (see `entry`): whatever crashed, paused or timed
out, an entry whose lease ran out is claimed by the next sweep of any relay (a compare-and-set
on the lease, so one replica wins each) and published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from pymongo import ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from order_platform.building_blocks.runtime.clock import SystemClock
from order_platform.building_blocks.runtime.correlation import current_correlation_id
from order_platform.building_blocks.runtime.tracing import current_traceparent
from order_platform.order_service.application.ports import Clock
from order_platform.order_service.domain import Order
from order_platform.order_service.outbox.entry import (
    LEASE_DROPS,
    LEASE_FIELD,
    OWNER_FIELD,
    PAYLOAD_DROPS,
    PENDING_FIELD,
    PUBLISHED_DROPS,
    Document,
    OutboxEntry,
)

# A leased document with nothing left to publish: its lease is to go.
_NOTHING_LEFT: Document = {
    "outbox.value": {"$exists": False},
    PENDING_FIELD: {"$in": [[], None]},  # an empty queue, or none
}


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
        """The entry of the one event `order` recorded, leased to us; called inside the
        request, so that its correlation id and trace travel with the event."""
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
        """Extend our lease and return the entry as stored; `None` when it is not ours
        (claimed, published or not stored).

        As stored, not as `entry` says: a command retried under its Idempotency-Key records its
        transition under the event id its first attempt reserved, so an attempt whose write's
        outcome was unknown may find that id stored by the retry, with another version."""
        document = await self._orders.find_one_and_update(
            {**_unpublished(entry), OWNER_FIELD: self.owner},
            {"$set": {LEASE_FIELD: now + self.lease}},
            projection={"outbox": 1, "createdAt": 1},
            return_document=ReturnDocument.AFTER,
        )
        if document is None:
            return None
        return next(e for e in OutboxEntry.unpublished_of(document) if e.event_id == entry.event_id)

    async def claim_expired(self, now: datetime, limit: int) -> list[OutboxEntry]:
        """Take over documents whose lease ran out, whoever held them (a compare-and-set on the
        lease, so one replica wins each), and return their unpublished events in order.

        Claiming fewer than `limit` documents means none is left: documents another replica
        won in between are looked past (they hold a fresh lease now), so the caller's sweep is
        complete. A document with nothing left to publish (its relay died between the last
        acknowledgement and the lease's removal) only loses its lease.
        """
        query = {LEASE_FIELD: {"$lt": now}}
        claimed: list[OutboxEntry] = []
        claimed_documents = 0
        seen: set[str] = set()
        while claimed_documents < limit:
            wanted = limit - claimed_documents
            expired = self._orders.find(
                query, {"outbox": 1, "createdAt": 1}, limit=wanted + len(seen)
            )
            found = 0
            async for document in expired:
                if document["_id"] in seen:
                    continue
                seen.add(document["_id"])
                found += 1
                lease_until = now + self.lease
                result = await self._orders.update_one(
                    {"_id": document["_id"], LEASE_FIELD: document["outbox"]["leaseUntil"]},
                    {"$set": {OWNER_FIELD: self.owner, LEASE_FIELD: lease_until}},
                )
                if not result.matched_count:
                    continue
                claimed_documents += 1
                entries = OutboxEntry.unpublished_of(document)
                if not entries:
                    await self._remove_lease_if_done([document["_id"]])
                claimed += [
                    replace(entry, lease_owner=self.owner, lease_until=lease_until)
                    for entry in entries
                ]
            if found < wanted:
                break
        return claimed

    async def mark_published(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        """The broker acknowledged these: they are no longer to be published, and a document
        with nothing else left loses its lease, so no sweep finds it. What a creation's event
        was is no longer needed either; its id stays (the read model's rebuild and a lost
        insert's read-back use it).

        Returns the events still unpublished under our leases on these documents (a transition
        queued behind what was being published): ours to publish next.

        The common case, creations with nothing queued behind them, is one write per entry.
        """
        if not entries:
            return []
        result = await self._orders.bulk_write(
            [
                UpdateOne(
                    {**_unpublished(entry, value_kept=True), PENDING_FIELD: {"$exists": False}},
                    {"$unset": dict.fromkeys(PUBLISHED_DROPS, "")},
                )
                if not entry.transition
                else UpdateOne(
                    {"_id": entry.order_id},
                    {"$pull": {PENDING_FIELD: {"eventId": entry.event_id}}},
                )
                for entry in entries
            ],
            ordered=False,
        )
        if result.matched_count == len(entries) and not any(e.transition for e in entries):
            return []
        # Something is or was queued behind: drop the published creations' events, then the
        # leases of documents with nothing left, and read what is left under ours.
        order_ids = list(dict.fromkeys(entry.order_id for entry in entries))
        creations = [entry for entry in entries if not entry.transition]
        if creations:
            await self._orders.bulk_write(
                [
                    UpdateOne(
                        {"_id": entry.order_id, "outbox.eventId": entry.event_id},
                        {"$unset": dict.fromkeys(PAYLOAD_DROPS, "")},
                    )
                    for entry in creations
                ],
                ordered=False,
            )
        await self._remove_lease_if_done(order_ids)
        left: list[OutboxEntry] = []
        async for document in self._orders.find(
            {"_id": {"$in": order_ids}, OWNER_FIELD: self.owner}, {"outbox": 1, "createdAt": 1}
        ):
            left += OutboxEntry.unpublished_of(document)
        return left

    async def _remove_lease_if_done(self, order_ids: Sequence[str]) -> None:
        await self._orders.update_many(
            {"_id": {"$in": list(order_ids)}, **_NOTHING_LEFT},
            {"$unset": dict.fromkeys(LEASE_DROPS, "")},
        )


def _unpublished(entry: OutboxEntry, *, value_kept: bool = False) -> Document:
    """The document of `entry` while `entry` is unpublished."""
    if entry.transition:
        return {"_id": entry.order_id, f"{PENDING_FIELD}.eventId": entry.event_id}
    if value_kept:  # marking again after a lost reply must match as the first time did
        return {"_id": entry.order_id, "outbox.eventId": entry.event_id}
    return {
        "_id": entry.order_id,
        "outbox.eventId": entry.event_id,
        "outbox.value": {"$exists": True},
    }
