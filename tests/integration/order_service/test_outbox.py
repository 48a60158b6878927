"""The outbox's leases against the MongoDB-wire server, and the relay's prompt wake-up."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import httpx
import pymongo.monitoring
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from order_platform.order_service import bootstrap
from order_platform.order_service.application.ports import OrderAlreadyExists
from order_platform.order_service.domain import Order
from order_platform.order_service.infrastructure.settings import OrderServiceSettings
from order_platform.order_service.infrastructure.write_model import (
    MongoStoredOrders,
    MongoUnitOfWork,
    order_document,
)
from order_platform.order_service.outbox.entry import FENCED_FIELD, OutboxEntry
from order_platform.order_service.outbox.relay_registry import RelayRegistry
from order_platform.order_service.outbox.store import MongoOutbox
from tests.integration.order_service.conftest import serve
from tests.support.kafka_topic import read_topic
from tests.support.outbox import pending_in_async
from tests.support.waiting import eventually
from tests.unit.order_service.relay_fakes import RecordingHandoff

Database = AsyncDatabase[dict[str, Any]]
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
LEASE = timedelta(seconds=10)


async def store_pending(database: Database, count: int, *, lease_until: datetime) -> list[str]:
    """Orders whose entries were left by a writer that is gone."""
    ids = []
    for number in range(count):
        order = Order.create(
            order_id=uuid4(),
            event_id=uuid4(),
            customer_name=f"C{number}",
            total_amount=Decimal(1),
            now=NOW,
        )
        entry = OutboxEntry.for_event(order.events[0], owner="gone", lease_until=lease_until)
        await database.orders.insert_one(order_document(order, entry))
        ids.append(str(order.id))
    return ids


async def test_two_replicas_sweeping_at_once_claim_each_entry_once(database: Database) -> None:
    await store_pending(database, 40, lease_until=NOW - timedelta(seconds=1))
    replicas = [MongoOutbox(database.orders, owner=name, lease=LEASE) for name in ("a", "b")]

    claims = await asyncio.gather(*(replica.claim_expired(NOW, limit=100) for replica in replicas))

    claimed = [entry.event_id for batch in claims for entry in batch]
    assert len(claimed) == 40
    assert len(set(claimed)) == 40
    owners = {doc["outbox"]["leaseOwner"] async for doc in database.orders.find()}
    assert owners <= {"a", "b"}


async def test_entries_under_a_live_lease_are_left_alone(database: Database) -> None:
    await store_pending(database, 3, lease_until=NOW + timedelta(seconds=5))
    outbox = MongoOutbox(database.orders, owner="a", lease=LEASE)

    assert await outbox.claim_expired(NOW, limit=100) == []


async def test_a_lease_taken_over_cannot_be_renewed_by_its_old_owner(database: Database) -> None:
    await store_pending(database, 1, lease_until=NOW - timedelta(seconds=1))
    old, new = (MongoOutbox(database.orders, owner=name, lease=LEASE) for name in ("old", "new"))
    (entry,) = await new.claim_expired(NOW, limit=10)

    assert await old.renew(entry, NOW) is None
    assert await new.renew(entry, NOW + timedelta(seconds=1)) is not None


async def test_publishing_removes_each_lease_in_one_write_per_batch_and_nothing_is_left(
    settings: OrderServiceSettings,
    database: Database,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    writes = WriteCommands(database.name)

    def listened_client(uri: str, *, timeout_seconds: float) -> AsyncMongoClient[Any]:
        timeout_ms = int(timeout_seconds * 1000)
        return AsyncMongoClient(uri, tz_aware=True, timeoutMS=timeout_ms, event_listeners=[writes])

    monkeypatch.setattr(bootstrap, "new_client", listened_client)
    async with serve(settings) as client:
        await eventually(lambda: _relay_idle(client), timeout=5, what="relay started")
        writes.counted.clear()
        for number in range(20):
            response = await client.post(
                "/orders", json={"customerName": f"W{number}", "totalAmount": 1}
            )
            assert response.status_code == 201
        await eventually(lambda: _published(kafka_bootstrap, settings, 20), timeout=10)
        await eventually(lambda: _no_lease_left(database), timeout=10, what="leases removed")

    orders_writes = [c for c in writes.counted if c[1] == "orders"]
    assert orders_writes.count(("insert", "orders")) == 20
    # One `update` command per acknowledged batch (a bulk write), however many orders in it.
    assert 1 <= orders_writes.count(("update", "orders")) <= 20
    assert {c[1] for c in writes.counted} <= {"orders", "outbox_relays"}
    stored = await database.orders.find_one({}, {"outbox": 1})
    assert stored is not None
    assert set(stored["outbox"]) == {"eventId"}  # the id stays


class WriteCommands(pymongo.monitoring.CommandListener):
    """Counts the write commands sent to one database."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.counted: list[tuple[str, str]] = []

    def started(self, event: pymongo.monitoring.CommandStartedEvent) -> None:
        if event.database_name != self.database:
            return
        if event.command_name in ("insert", "update", "delete", "findAndModify"):
            self.counted.append((event.command_name, event.command[event.command_name]))

    def succeeded(self, event: pymongo.monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: pymongo.monitoring.CommandFailedEvent) -> None:
        pass


async def _published(
    kafka_bootstrap: str, settings: OrderServiceSettings, count: int, *, exactly: bool = False
) -> bool:
    records = await read_topic(kafka_bootstrap, settings.order_events_topic)
    return len(records) == count if exactly else len(records) >= count


async def _no_lease_left(database: Database) -> bool:
    return await pending_in_async(database) == 0


async def test_the_relay_publishes_right_after_the_commit_not_at_a_sweep(
    settings: OrderServiceSettings, database: Database, kafka_bootstrap: str
) -> None:
    # Only one relay, alive: after the start-up sweep nothing but the commit can wake it.
    async with serve(settings) as client:
        await client.get("/health/ready")
        # The start-up sweep has run; from now on only the commit can wake the relay.
        await eventually(
            lambda: _relay_idle(client), timeout=5, what="relay idle after start-up sweep"
        )
        response = await client.post("/orders", json={"customerName": "Lucas", "totalAmount": 1})
        order_id = response.json()["id"]

        async def published() -> bool:
            records = await read_topic(kafka_bootstrap, settings.order_events_topic)
            return any(record.key == order_id.encode() for record in records)

        await eventually(published, timeout=10, what="event published without a sweep")


async def _relay_idle(client: httpx.AsyncClient) -> bool:
    metrics = (await client.get("/metrics")).text
    return "outbox_pending_entries 0.0" in metrics


async def test_a_relay_whose_heartbeat_ran_out_is_swept_for_then_forgotten(
    database: Database,
) -> None:
    lease = timedelta(seconds=3)
    gone = RelayRegistry(database.outbox_relays, owner="gone", lease=lease)
    alive = RelayRegistry(database.outbox_relays, owner="alive", lease=lease)
    await gone.beat(NOW)
    await alive.beat(NOW + timedelta(seconds=2))

    assert await alive.departed(NOW + timedelta(seconds=2)) == []
    later = NOW + timedelta(seconds=3, milliseconds=500)
    ((owner, alive_until),) = await alive.departed(later)
    assert owner == "gone"
    # Entries it wrote just before dying may still be leased until alive_until + a beat.
    assert not alive.fully_expired(alive_until, later)
    assert alive.fully_expired(
        alive_until, alive_until + alive.beat_interval + timedelta(milliseconds=1)
    )

    await alive.forget(owner, alive_until)
    assert await alive.departed(later) == []


async def test_a_fence_of_an_earlier_version_reads_as_absent_until_a_retry_stores_the_order(
    database: Database,
) -> None:
    order = Order.create(
        order_id=uuid4(), event_id=uuid4(), customer_name="Late", total_amount=Decimal(1), now=NOW
    )
    # Earlier versions fenced off an order id whose insert was given up on with this document.
    await database.orders.insert_one({"_id": str(order.id), FENCED_FIELD: str(uuid4())})
    outbox = MongoOutbox(database.orders, owner="a", lease=LEASE)
    handoff = RecordingHandoff(outbox.new_entry)
    outcomes = handoff.outcomes

    def unit_of_work() -> MongoUnitOfWork:
        return MongoUnitOfWork(database.orders, outbox=handoff)

    async with unit_of_work() as uow:
        assert await uow.orders.get(order.id) is None
    stored_orders = MongoStoredOrders(database.orders, timeout_seconds=5)
    assert [batch async for batch in stored_orders.export(after=None, batch_size=10)] == []

    async with unit_of_work() as uow:  # the client's retry, same order id
        uow.orders.add(order)
        await uow.commit()
        assert await uow.orders.get(order.id) == order
    async with unit_of_work() as uow:  # a second one finds it taken
        uow.orders.add(order)
        with pytest.raises(OrderAlreadyExists):
            await uow.commit()

    assert outcomes == {
        "committed": [str(order.id)],
        "outcome_unknown": [],
        "not_stored": [str(order.id)],
        "queued": [],
    }
