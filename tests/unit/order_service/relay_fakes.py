"""Hand-written fakes of the relay's ports (`Outbox`, `Heartbeats`, `Publisher`).

Several relays ("replicas") share one `FakeOutboxStore`, as they share one MongoDB; the
contract suite in tests/integration runs these fakes and the MongoDB adapters through the
same tests.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from order_platform.order_service.domain import Order
from order_platform.order_service.infrastructure.kafka_publisher import PublishFailed
from order_platform.order_service.infrastructure.outbox import OutboxEntry, Unpublished


class FakeOutboxStore:
    """The entries (published ones stay, as in MongoDB) and heartbeats a database would hold."""

    def __init__(self) -> None:
        self.entries: dict[str, OutboxEntry] = {}
        self.fenced: set[str] = set()  # order ids
        self.alive_until: dict[str, datetime] = {}
        self.unpublished: dict[str, Unpublished] = {}

    def insert(self, entry: OutboxEntry) -> bool:
        """An order's write landing, with its outbox entry; refused once fenced off."""
        if entry.order_id in self.fenced:
            return False
        self.entries[entry.event_id] = entry
        return True

    def may_be_unpublished(self, entry: OutboxEntry, of: Mapping[str, Unpublished]) -> bool:
        what = of.get(entry.lease_owner)
        return what is not None and (entry.seq > what.mark or entry.seq in what.expected)


class FakeOutbox:
    def __init__(self, store: FakeOutboxStore, *, owner: str, lease: timedelta) -> None:
        self._store = store
        self.owner = owner
        self.lease = lease

    def new_entry(self, order: Order, seq: int) -> OutboxEntry:
        (event,) = order.events
        return OutboxEntry.for_event(
            event, owner=self.owner, lease_until=order.created_at + self.lease, seq=seq
        )

    async def renew(self, entry: OutboxEntry, now: datetime) -> OutboxEntry | None:
        stored = self._store.entries.get(entry.event_id)
        if stored is None or stored.lease_owner != self.owner:
            return None
        renewed = replace(stored, lease_until=now + self.lease)
        self._store.entries[entry.event_id] = renewed
        return renewed

    async def claim_expired(
        self,
        now: datetime,
        limit: int,
        *,
        unpublished: Mapping[str, Unpublished],
        new_seq: Callable[[], int],
        published: Collection[int] = (),
    ) -> list[OutboxEntry]:
        expired = [
            e
            for e in self._store.entries.values()
            if e.lease_until < now
            and self._store.may_be_unpublished(e, unpublished)
            and not (e.lease_owner == self.owner and e.seq in published)
        ][:limit]
        claimed = [
            replace(
                e,
                lease_owner=self.owner,
                lease_until=now + self.lease,
                seq=e.seq if e.lease_owner == self.owner else new_seq(),
            )
            for e in expired
        ]
        for entry in claimed:
            self._store.entries[entry.event_id] = entry
        return claimed

    async def holds_unpublished(self, owner: str, unpublished: Unpublished) -> bool:
        return any(
            e.lease_owner == owner and self._store.may_be_unpublished(e, {owner: unpublished})
            for e in self._store.entries.values()
        )

    async def fence(self, entry: OutboxEntry) -> bool:
        if any(e.order_id == entry.order_id for e in self._store.entries.values()):
            return False
        self._store.fenced.add(entry.order_id)
        return True


class FakeHeartbeats:
    def __init__(self, store: FakeOutboxStore, *, owner: str, lease: timedelta) -> None:
        self._store = store
        self.owner = owner
        self.lease = lease
        self.beat_interval = lease / 3

    async def beat(self, now: datetime, unpublished: Unpublished) -> None:
        self._store.alive_until[self.owner] = now + self.lease
        before = self._store.unpublished.get(self.owner)
        mark = max(unpublished.mark, before.mark) if before else unpublished.mark
        self._store.unpublished[self.owner] = Unpublished(mark, unpublished.expected)

    async def departed(self, now: datetime) -> list[tuple[str, datetime]]:
        return [(owner, until) for owner, until in self._store.alive_until.items() if until < now]

    async def unpublished(self, owners: Collection[str]) -> dict[str, Unpublished]:
        return {o: self._store.unpublished[o] for o in owners if o in self._store.unpublished}

    def fully_expired(self, alive_until: datetime, now: datetime) -> bool:
        return now > alive_until + self.beat_interval

    async def forget(self, owner: str, alive_until: datetime) -> None:
        if self._store.alive_until.get(owner) == alive_until:
            del self._store.alive_until[owner]
            del self._store.unpublished[owner]

    async def leave(self) -> None:
        self._store.alive_until.pop(self.owner, None)
        self._store.unpublished.pop(self.owner, None)


class FakePublisher:
    """The broker: acknowledges everything while `available`; records what it received."""

    def __init__(self) -> None:
        self.available = True
        self.received: list[OutboxEntry] = []

    async def publish(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        if not self.available:
            raise PublishFailed("fake broker is away")
        self.received.extend(entries)
        return list(entries)

    def event_ids(self) -> list[str]:
        return [entry.event_id for entry in self.received]
