"""The outbox entries as stored in MongoDB, and the lease operations the relays run on them.

An entry is unpublished while it has a lease (see `entry`): whatever crashed, paused or timed
out, an entry whose lease ran out is claimed by the next sweep of any relay (a compare-and-set
on the lease, so one replica wins each) and published.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from order_platform.building_blocks.runtime.clock import SystemClock
from order_platform.building_blocks.runtime.correlation import current_correlation_id
from order_platform.building_blocks.runtime.tracing import current_traceparent
from order_platform.order_service.application.ports import Clock
from order_platform.order_service.domain import Order, OrderCreated
from order_platform.order_service.outbox.entry import (
    LEASE_FIELD,
    OWNER_FIELD,
    PUBLISHED_DROPS,
    Document,
    OutboxEntry,
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
        if not isinstance(event, OrderCreated):  # transitions do not reach the outbox yet
            raise TypeError(f"no outbox entry for {type(event).__name__} yet")
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
