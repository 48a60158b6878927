"""Heartbeats of the outbox relays, so that the costly sweep runs soon after one has gone.

Finding expired outbox entries is a query over the orders collection: an index lookup on a
real MongoDB, a full scan on the embedded server, which would stall it if every relay ran it
every few seconds. Live relays publish their own entries, so a prompt sweep is only needed
when a relay stops beating (crashed, or left with entries held). Each relay beats every third
of the lease; a relay that died at time D wrote its last entry by D, with a lease ending by
D + L, while its heartbeat said "alive until" at least D - B + L. So once `aliveUntil + B` has
passed, every entry it left is claimable, and one complete sweep after that moment finds them
all; then its heartbeat is forgotten.

Nothing here decides what is published (an entry's own lease does, see `entry`): a heartbeat
forgotten too early, or one that comes back after it was forgotten, only moves when a sweep
runs, and every relay's periodic sweep finds whatever is left.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

Document = dict[str, Any]


class RelayRegistry:
    def __init__(self, relays: AsyncCollection[Document], *, owner: str, lease: timedelta) -> None:
        self._relays = relays
        self.owner = owner
        self.lease = lease
        self.beat_interval = lease / 3

    async def beat(self, now: datetime) -> None:
        await self._relays.update_one(
            {"_id": self.owner}, {"$set": {"aliveUntil": now + self.lease}}, upsert=True
        )

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
