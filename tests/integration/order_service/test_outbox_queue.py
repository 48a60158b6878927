"""Transitions' events in their order's document, against the MongoDB-wire server: each one a
compare-and-set with its event queued under the document's one lease, published in order by
whoever holds that lease, the lease gone once nothing is left."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from order_platform.building_blocks.runtime.clock import SystemClock
from order_platform.contracts.order_events import read_order_event
from order_platform.order_service.application.ports import OrderChangedMeanwhile
from order_platform.order_service.domain import Order
from order_platform.order_service.infrastructure.write_model import MongoUnitOfWork
from order_platform.order_service.outbox.entry import OutboxEntry
from order_platform.order_service.outbox.kafka_publisher import KafkaPublisher
from order_platform.order_service.outbox.relay import OutboxRelay
from order_platform.order_service.outbox.relay_registry import RelayRegistry
from order_platform.order_service.outbox.store import MongoOutbox
from tests.support.kafka_topic import read_topic
from tests.support.outbox import pending_in_async
from tests.support.waiting import eventually
from tests.unit.order_service.relay_fakes import RecordingHandoff

Database = AsyncDatabase[dict[str, Any]]
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
LEASE = timedelta(seconds=10)


class Replica:
    """One Order Service replica's write side: its outbox, and units of work that report
    each write's outcome."""

    def __init__(self, database: Database, owner: str) -> None:
        self.outbox = MongoOutbox(database.orders, owner=owner, lease=LEASE, clock=_At(NOW))
        self.handoff = RecordingHandoff(self.outbox.new_entry)
        self._database = database

    def unit_of_work(self) -> MongoUnitOfWork:
        return MongoUnitOfWork(self._database.orders, outbox=self.handoff)

    async def place(self) -> Order:
        order = Order.create(
            order_id=uuid4(),
            event_id=uuid4(),
            customer_name="Lucas",
            total_amount=Decimal(1),
            now=NOW,
        )
        async with self.unit_of_work() as uow:
            uow.orders.add(order)
            await uow.commit()
        return order

    async def change(self, order: Order, command: Callable[[Order], object]) -> Order:
        async with self.unit_of_work() as uow:
            current = await uow.orders.get(order.id)
            assert current is not None
            command(current)
            uow.orders.update(current)
            await uow.commit()
        return current


class _At:
    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


def confirm(order: Order) -> object:
    return order.confirm(event_id=uuid4(), now=NOW)


def ship(order: Order) -> object:
    return order.ship(event_id=uuid4(), now=NOW, tracking_number="TN-1")


def cancel(order: Order) -> object:
    return order.cancel(event_id=uuid4(), now=NOW, reason="changed my mind")


def types(entries: list[OutboxEntry]) -> list[str]:
    return [dict(entry.headers)["event-type"].decode() for entry in entries]


async def published_creation(replica: Replica) -> Order:
    order = await replica.place()
    (created,) = await replica.outbox.claim_expired(NOW + LEASE * 2, limit=10)
    assert await replica.outbox.mark_published([created]) == []
    return order


async def test_a_transition_of_a_published_order_is_one_write_that_takes_the_lease(
    database: Database,
) -> None:
    replica = Replica(database, "a")
    order = await published_creation(replica)
    assert await pending_in_async(database) == 0

    confirmed = await replica.change(order, confirm)

    stored = await database.orders.find_one({"_id": str(order.id)})
    assert stored is not None
    assert (stored["status"], stored["version"]) == ("confirmed", 2)
    assert stored["outbox"]["leaseOwner"] == "a"
    (queued,) = stored["outbox"]["pending"]
    assert queued["eventId"] == str(confirmed.events[0].event_id)
    assert replica.handoff.outcomes["committed"] == [str(order.id), str(order.id)]
    assert await replica.unit_of_work().orders.has_event(order.id, confirmed.events[0].event_id)


async def test_a_transition_while_a_relay_holds_the_lease_is_queued_and_found_by_its_mark(
    database: Database,
) -> None:
    replica = Replica(database, "a")
    order = await replica.place()  # its creation is still unpublished, under a's lease
    await replica.change(order, confirm)
    await replica.change(order, ship)
    assert replica.handoff.outcomes["queued"] == [str(order.id), str(order.id)]

    stored = await database.orders.find_one({"_id": str(order.id)})
    assert stored is not None
    creation = OutboxEntry.from_order_document(stored)

    behind = await replica.outbox.mark_published([creation])

    assert types(behind) == ["OrderConfirmed", "OrderShipped"]  # in version order
    assert await pending_in_async(database) == 1  # the lease stays while they wait
    assert await replica.outbox.mark_published(behind) == []
    assert await pending_in_async(database) == 0
    stored = await database.orders.find_one({"_id": str(order.id)})
    assert stored is not None
    assert set(stored["outbox"]) == {"eventId"}
    assert len(stored["transitionEventIds"]) == 2


async def test_a_sweep_claims_a_documents_every_unpublished_event_in_order(
    database: Database,
) -> None:
    writer = Replica(database, "gone")
    order = await writer.place()
    await writer.change(order, confirm)
    await writer.change(order, cancel)

    claimed = await Replica(database, "b").outbox.claim_expired(NOW + LEASE * 2, limit=10)

    assert types(claimed) == ["OrderCreated", "OrderConfirmed", "OrderCancelled"]
    assert {entry.lease_owner for entry in claimed} == {"b"}
    assert [entry.transition for entry in claimed] == [False, True, True]


async def test_a_document_left_leased_with_nothing_to_publish_loses_its_lease_at_a_sweep(
    database: Database,
) -> None:
    # Its relay pulled the last event and died before removing the lease.
    replica = Replica(database, "gone")
    order = await published_creation(replica)
    confirmed = await replica.change(order, confirm)
    await database.orders.update_one(
        {"_id": str(order.id)},
        {"$pull": {"outbox.pending": {"eventId": str(confirmed.events[0].event_id)}}},
    )

    assert await Replica(database, "b").outbox.claim_expired(NOW + LEASE * 2, limit=10) == []
    assert await pending_in_async(database) == 0


async def test_a_published_creation_is_not_renewed_while_a_transition_keeps_the_lease(
    database: Database,
) -> None:
    replica = Replica(database, "a")
    order = await replica.place()
    await replica.change(order, confirm)
    stored = await database.orders.find_one({"_id": str(order.id)})
    assert stored is not None
    creation, transition = OutboxEntry.unpublished_of(stored)

    await replica.outbox.mark_published([creation])

    assert await replica.outbox.renew(creation, NOW) is None
    assert await replica.outbox.renew(transition, NOW) is not None
    assert await Replica(database, "b").outbox.renew(transition, NOW) is None


async def test_a_transition_renewed_after_an_unknown_outcome_is_the_one_stored_under_its_id(
    database: Database,
) -> None:
    """A cancel's first attempt (placed, version 1 to 2) was not stored; a confirm won, and
    the cancel's retry stored version 3 under the event id the first attempt reserved. The
    relay still holding the first attempt's entry must get version 3 from its renewal."""
    replica = Replica(database, "a")
    order = await published_creation(replica)
    reserved = uuid4()
    first_attempt = await replica.unit_of_work().orders.get(order.id)
    assert first_attempt is not None
    first_attempt.cancel(event_id=reserved, now=NOW, reason="changed my mind")
    stale = replica.outbox.new_entry(first_attempt)  # its write's outcome was unknown
    confirmed = await replica.change(order, confirm)
    await replica.change(confirmed, lambda o: o.cancel(event_id=reserved, now=NOW, reason="r"))

    renewed = await replica.outbox.renew(stale, NOW)

    assert renewed is not None
    assert read_order_event(stale.value).order_version == 2
    assert read_order_event(renewed.value).order_version == 3
    assert renewed.event_id == stale.event_id == str(reserved)


async def test_marking_again_after_a_lost_reply_changes_nothing(database: Database) -> None:
    replica = Replica(database, "a")
    order = await published_creation(replica)
    await replica.change(order, confirm)
    stored = await database.orders.find_one({"_id": str(order.id)})
    assert stored is not None
    (transition,) = OutboxEntry.unpublished_of(stored)

    assert await replica.outbox.mark_published([transition]) == []
    assert await replica.outbox.mark_published([transition]) == []
    assert await pending_in_async(database) == 0


async def test_two_changes_racing_on_one_version_store_exactly_one_event(
    database: Database,
) -> None:
    first, second = Replica(database, "a"), Replica(database, "b")
    order = await published_creation(first)
    readers = [first.unit_of_work(), second.unit_of_work()]
    read = [await uow.orders.get(order.id) for uow in readers]
    confirm(read[0])  # type: ignore[arg-type]
    cancel(read[1])  # type: ignore[arg-type]

    async def commit(uow: MongoUnitOfWork, changed: Order | None) -> int | None:
        """None when it won; the version it lost to otherwise."""
        assert changed is not None
        uow.orders.update(changed)
        try:
            await uow.commit()
        except OrderChangedMeanwhile as lost:
            return lost.current_version
        return None

    outcomes = await asyncio.gather(*(commit(u, o) for u, o in zip(readers, read, strict=True)))

    assert sorted(outcomes, key=str) == [2, None]
    stored = await database.orders.find_one({"_id": str(order.id)})
    assert stored is not None
    assert stored["version"] == 2
    assert len(stored["outbox"]["pending"]) == 1
    assert len(stored["transitionEventIds"]) == 1


async def test_an_order_stored_before_versions_changes_from_version_1(database: Database) -> None:
    replica = Replica(database, "a")
    order = await published_creation(replica)
    await database.orders.update_one(
        {"_id": str(order.id)}, {"$unset": {"version": "", "status": ""}}
    )

    await replica.change(order, cancel)

    stored = await database.orders.find_one({"_id": str(order.id)})
    assert stored is not None
    assert (stored["status"], stored["version"]) == ("cancelled", 2)


@pytest.mark.parametrize("how", ["changed", "gone"])
async def test_a_change_of_an_order_changed_or_gone_meanwhile_writes_nothing(
    database: Database, how: str
) -> None:
    replica = Replica(database, "a")
    order = await published_creation(replica)
    async with replica.unit_of_work() as uow:
        current = await uow.orders.get(order.id)
        assert current is not None
        await Replica(database, "b").change(order, confirm) if how == "changed" else (
            await database.orders.delete_one({"_id": str(order.id)})
        )
        cancel(current)
        uow.orders.update(current)
        with pytest.raises(OrderChangedMeanwhile):
            await uow.commit()
    assert replica.handoff.outcomes["not_stored"] == [str(order.id)]


async def test_a_relay_publishes_an_orders_events_in_version_order_however_fast_they_come(
    database: Database, kafka_bootstrap: str, unique_name: str
) -> None:
    clock = SystemClock()
    outbox = MongoOutbox(database.orders, owner="a", lease=timedelta(seconds=2), clock=clock)
    publisher = KafkaPublisher(kafka_bootstrap, unique_name, enable_idempotence=False)
    relay = OutboxRelay(
        outbox,
        RelayRegistry(database.outbox_relays, owner="a", lease=timedelta(seconds=2)),
        publisher,
        clock,
    )
    running = asyncio.create_task(relay.run())
    try:
        orders = [
            Order.create(
                order_id=uuid4(),
                event_id=uuid4(),
                customer_name="Lucas",
                total_amount=Decimal(1),
                now=clock.now(),
            )
            for _ in range(5)
        ]
        for order in orders:  # each one's transitions right behind its creation
            async with MongoUnitOfWork(database.orders, outbox=relay) as uow:
                uow.orders.add(order)
                await uow.commit()
            for command in (confirm, ship):
                async with MongoUnitOfWork(database.orders, outbox=relay) as uow:
                    current = await uow.orders.get(order.id)
                    assert current is not None
                    command(current)
                    uow.orders.update(current)
                    await uow.commit()

        async def all_published() -> bool:
            return len(await read_topic(kafka_bootstrap, unique_name)) >= 15

        await eventually(all_published, timeout=15, what="15 events published")
        await eventually(lambda: _nothing_pending(database), timeout=10, what="leases removed")
    finally:
        relay.request_stop()
        await running
        await publisher.close()

    by_order: dict[bytes, list[int]] = {}
    for record in await read_topic(kafka_bootstrap, unique_name):
        assert record.key is not None
        assert record.value is not None
        by_order.setdefault(record.key, []).append(read_order_event(record.value).order_version)
    assert sorted(by_order.values()) == [[1, 2, 3]] * 5  # each once, in order


async def _nothing_pending(database: Database) -> bool:
    return await pending_in_async(database) == 0
