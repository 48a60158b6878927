"""Heartbeats of the outbox relays, so that the costly sweep runs only when one has gone.

Finding expired outbox entries is a query over the orders collection: an index lookup on a
real MongoDB, a full scan on the embedded server, which would stall it every few seconds as
the collection grows. Live relays publish their own entries, so a sweep is only needed when a
relay stops beating (crashed or left with entries held). Each relay beats every third of the
lease; a relay that died at time D wrote its last entry by D, with a lease ending by D + L,
while its heartbeat said "alive until" at least D - B + L. So once `aliveUntil + B` has
passed, every entry it left is claimable, and one complete sweep after that moment finds
them all; only then is its heartbeat forgotten.

The heartbeat also carries how far the relay has published (`publishedUpTo`, never moving
back) and the numbers of the inserts it is still unsure of; a sweep reads them to know which
of the relay's entries may still be unpublished (see `outbox`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from order_platform.order_service.infrastructure.outbox import Unpublished

Document = dict[str, Any]


class RelayRegistry:
    def __init__(self, relays: AsyncCollection[Document], *, owner: str, lease: timedelta) -> None:
        self._relays = relays
        self.owner = owner
        self.lease = lease
        self.beat_interval = lease / 3

    async def beat(self, now: datetime, unpublished: Unpublished) -> None:
        await self._relays.update_one(
            {"_id": self.owner},
            {
                "$set": {"aliveUntil": now + self.lease, "expected": list(unpublished.expected)},
                "$max": {"publishedUpTo": unpublished.mark},
            },
            upsert=True,
        )

    async def unpublished(self, owners: Collection[str]) -> dict[str, Unpublished]:
        """What each of these relays said it may not have published (a small collection)."""
        return {
            document["_id"]: Unpublished(
                document.get("publishedUpTo", 0), tuple(document.get("expected", ()))
            )
            async for document in self._relays.find({"_id": {"$in": list(owners)}})
        }

    async def departed(self, now: datetime) -> list[tuple[str, datetime]]:
        """Relays whose heartbeat ran out, with the time it ran out (a small collection)."""
        return [
            (document["_id"], document["aliveUntil"])
            async for document in self._relays.find({"aliveUntil": {"$lt": now}})
        ]

    def fully_expired(self, alive_until: datetime, now: datetime) -> bool:
        """Every entry the departed relay left has an expired lease by now."""
        return now > alive_until + self.beat_interval

    async def forget(self, owner: str, alive_until: datetime) -> None:
        await self._relays.delete_one({"_id": owner, "aliveUntil": alive_until})

    async def leave(self) -> None:
        """On a shutdown with nothing held. (With entries held, the heartbeat is left to run
        out, so that the others sweep them once their leases have.)"""
        await self._relays.delete_one({"_id": self.owner})
