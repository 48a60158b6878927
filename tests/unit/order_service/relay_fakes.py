"""Hand-written fakes of the relay's ports (`Outbox`, `Heartbeats`, `Publisher`), and of the
port the relay is to the unit of work (`OutboxHandoff`).

Several relays ("replicas") share one `FakeOutboxStore`, as they share one MongoDB; the
contract suite in tests/integration runs these fakes and the MongoDB adapters through the
same tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from order_platform.order_service.domain import Order
from order_platform.order_service.outbox.entry import OutboxEntry
from order_platform.order_service.outbox.kafka_publisher import PublishFailed


class FakeOutboxStore:
    """The entries and heartbeats a database would hold. An entry is unpublished while it has
    a lease; `published` holds the ids of entries whose lease was removed (they stay stored)."""

    def __init__(self) -> None:
        self.entries: dict[str, OutboxEntry] = {}
        self.published: set[str] = set()  # event ids
        self.alive_until: dict[str, datetime] = {}
        self.failing_lease_removals = 0  # this many `mark_published` calls fail first

    def insert(self, entry: OutboxEntry) -> bool:
        """An order's write landing, with its outbox entry; refused if the order is stored."""
        if any(e.order_id == entry.order_id for e in self.entries.values()):
            return False
        self.entries[entry.event_id] = entry
        return True

    def unpublished(self) -> list[OutboxEntry]:
        return [e for e in self.entries.values() if e.event_id not in self.published]


class FakeOutbox:
    def __init__(self, store: FakeOutboxStore, *, owner: str, lease: timedelta) -> None:
        self._store = store
        self.owner = owner
        self.lease = lease

    def new_entry(self, order: Order) -> OutboxEntry:
        (event,) = order.events
        return OutboxEntry.for_event(
            event, owner=self.owner, lease_until=order.created_at + self.lease
        )

    async def renew(self, entry: OutboxEntry, now: datetime) -> OutboxEntry | None:
        stored = self._store.entries.get(entry.event_id)
        if (
            stored is None
            or stored.lease_owner != self.owner
            or entry.event_id in self._store.published
        ):
            return None
        renewed = replace(stored, lease_until=now + self.lease)
        self._store.entries[entry.event_id] = renewed
        return renewed

    async def claim_expired(self, now: datetime, limit: int) -> list[OutboxEntry]:
        expired = [e for e in self._store.unpublished() if e.lease_until < now][:limit]
        claimed = [
            replace(e, lease_owner=self.owner, lease_until=now + self.lease) for e in expired
        ]
        for entry in claimed:
            self._store.entries[entry.event_id] = entry
        return claimed

    async def mark_published(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        """Creations only: nothing is ever queued behind an entry here (transitions' queues
        are `MongoOutbox`'s, tested against the embedded server in `test_outbox_queue.py`)."""
        if self._store.failing_lease_removals:
            self._store.failing_lease_removals -= 1
            raise ConnectionError("fake outbox store: lease removal failed")
        self._store.published.update(
            e.event_id for e in entries if e.event_id in self._store.entries
        )
        return []


class FakeHeartbeats:
    def __init__(self, store: FakeOutboxStore, *, owner: str, lease: timedelta) -> None:
        self._store = store
        self.owner = owner
        self.lease = lease
        self.beat_interval = lease / 3

    async def beat(self, now: datetime) -> None:
        self._store.alive_until[self.owner] = now + self.lease

    async def departed(self, now: datetime) -> list[tuple[str, datetime]]:
        return [(owner, until) for owner, until in self._store.alive_until.items() if until < now]

    def fully_expired(self, alive_until: datetime, now: datetime) -> bool:
        return now > alive_until + self.beat_interval

    async def forget(self, owner: str, alive_until: datetime) -> None:
        if self._store.alive_until.get(owner) == alive_until:
            del self._store.alive_until[owner]

    async def leave(self) -> None:
        self._store.alive_until.pop(self.owner, None)


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


class RecordingHandoff:
    """The unit of work's `OutboxHandoff` without a relay: entries from `new_entry`, and how
    each insert ended, recorded by order id."""

    def __init__(self, new_entry: Callable[[Order], OutboxEntry]) -> None:
        self._new_entry = new_entry
        self.outcomes: dict[str, list[str]] = {
            "committed": [],
            "outcome_unknown": [],
            "not_stored": [],
            "queued": [],
        }

    async def new_entry(self, order: Order) -> OutboxEntry:
        return self._new_entry(order)

    def committed(self, entries: Sequence[OutboxEntry]) -> None:
        self.outcomes["committed"].extend(entry.order_id for entry in entries)

    def outcome_unknown(self, entries: Sequence[OutboxEntry]) -> None:
        self.outcomes["outcome_unknown"].extend(entry.order_id for entry in entries)

    def not_stored(self, entries: Sequence[OutboxEntry]) -> None:
        self.outcomes["not_stored"].extend(entry.order_id for entry in entries)

    def queued(self, entries: Sequence[OutboxEntry]) -> None:
        self.outcomes["queued"].extend(entry.order_id for entry in entries)
