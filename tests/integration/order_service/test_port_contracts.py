"""One contract per port, run against the hand-written fake and the MongoDB adapter alike,
so that the fakes the unit tests trust cannot drift from the real thing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from order_platform.order_service.application.ports import (
    IdempotencyKeys,
    KeyClaim,
    OrderAlreadyExists,
    OrderChangedMeanwhile,
    UnitOfWork,
)
from order_platform.order_service.domain import Order
from order_platform.order_service.infrastructure.idempotency_keys import MongoIdempotencyKeys
from order_platform.order_service.infrastructure.write_model import MongoUnitOfWork
from order_platform.order_service.outbox.entry import OutboxEntry
from tests.unit.order_service.fakes import FakeIdempotencyKeys, FakeStore, FakeUnitOfWork
from tests.unit.order_service.relay_fakes import RecordingHandoff

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


@pytest.fixture(params=["fake", "mongodb"])
async def keys(
    request: pytest.FixtureRequest, database: AsyncDatabase[dict[str, Any]]
) -> AsyncIterator[IdempotencyKeys]:
    if request.param == "fake":
        yield FakeIdempotencyKeys(FakeStore())
    else:
        yield MongoIdempotencyKeys(database.idempotency_keys, keep_for=timedelta(hours=48))


@pytest.fixture(params=["fake", "mongodb"])
def new_unit_of_work(
    request: pytest.FixtureRequest, database: AsyncDatabase[dict[str, Any]]
) -> Callable[[], UnitOfWork]:
    if request.param == "fake":
        store = FakeStore()
        return lambda: FakeUnitOfWork(store)

    def outbox_entry(order: Order) -> OutboxEntry:
        return OutboxEntry.for_event(order.events[0], owner="test", lease_until=NOW)

    return lambda: MongoUnitOfWork(database.orders, outbox=RecordingHandoff(outbox_entry))


def claim(fingerprint: str = "f1") -> KeyClaim:
    return KeyClaim(fingerprint=fingerprint, order_id=uuid4(), claimed_at=NOW)


def new_order() -> Order:
    return Order.create(
        order_id=uuid4(),
        event_id=uuid4(),
        customer_name="Lucas",
        total_amount=Decimal("9.90"),
        now=NOW,
    )


async def test_the_first_claim_of_a_key_wins(keys: IdempotencyKeys) -> None:
    first, second = claim("f1"), claim("f2")

    assert await keys.claim("k", first) == first
    assert await keys.claim("k", second) == first


async def test_a_released_key_can_be_claimed_again(keys: IdempotencyKeys) -> None:
    first, second = claim(), claim()
    await keys.claim("k", first)
    await keys.release("k", first)

    assert await keys.claim("k", second) == second


async def test_only_the_holder_can_release_a_key(keys: IdempotencyKeys) -> None:
    holder, other = claim(), claim()
    await keys.claim("k", holder)
    await keys.release("k", other)

    assert await keys.claim("k", claim()) == holder


async def test_a_committed_order_can_be_read_back(
    new_unit_of_work: Callable[[], UnitOfWork],
) -> None:
    order = new_order()
    async with new_unit_of_work() as uow:
        uow.orders.add(order)
        await uow.commit()

    async with new_unit_of_work() as uow:
        stored = await uow.orders.get(order.id)
    assert stored is not None
    assert (stored.id, stored.customer_name, stored.total_amount, stored.created_at) == (
        order.id,
        order.customer_name,
        order.total_amount,
        order.created_at,
    )
    assert (stored.status, stored.version, stored.updated_at) == ("placed", 1, None)


async def test_nothing_is_stored_without_commit(new_unit_of_work: Callable[[], UnitOfWork]) -> None:
    order = new_order()
    async with new_unit_of_work() as uow:
        uow.orders.add(order)

    async with new_unit_of_work() as uow:
        assert await uow.orders.get(order.id) is None


async def test_the_same_order_id_cannot_be_stored_twice(
    new_unit_of_work: Callable[[], UnitOfWork],
) -> None:
    order = new_order()
    async with new_unit_of_work() as uow:
        uow.orders.add(order)
        await uow.commit()

    async with new_unit_of_work() as uow:
        uow.orders.add(order)
        with pytest.raises(OrderAlreadyExists):
            await uow.commit()


async def committed(new_unit_of_work: Callable[[], UnitOfWork]) -> Order:
    order = new_order()
    async with new_unit_of_work() as uow:
        uow.orders.add(order)
        await uow.commit()
    return order


async def read(new_unit_of_work: Callable[[], UnitOfWork], order: Order) -> Order:
    async with new_unit_of_work() as uow:
        stored = await uow.orders.get(order.id)
    assert stored is not None
    return stored


async def test_a_committed_transition_reads_back_with_its_version_and_fields(
    new_unit_of_work: Callable[[], UnitOfWork],
) -> None:
    order = await committed(new_unit_of_work)
    async with new_unit_of_work() as uow:
        current = await uow.orders.get(order.id)
        assert current is not None
        current.cancel(event_id=uuid4(), now=LATER, reason="Ordered twice")
        uow.orders.update(current)
        await uow.commit()

    stored = await read(new_unit_of_work, order)
    assert (stored.status, stored.version, stored.updated_at) == ("cancelled", 2, LATER)
    assert (stored.cancellation_reason, stored.tracking_number) == ("Ordered twice", None)
    assert (stored.customer_name, stored.total_amount) == (order.customer_name, order.total_amount)


async def test_transitions_follow_each_other_one_version_at_a_time(
    new_unit_of_work: Callable[[], UnitOfWork],
) -> None:
    order = await committed(new_unit_of_work)
    confirmed, shipped = uuid4(), uuid4()
    async with new_unit_of_work() as uow:
        current = await uow.orders.get(order.id)
        assert current is not None
        current.confirm(event_id=confirmed, now=NOW)
        uow.orders.update(current)
        await uow.commit()
    async with new_unit_of_work() as uow:
        current = await uow.orders.get(order.id)
        assert current is not None
        current.ship(event_id=shipped, now=LATER, tracking_number="1Z999")
        uow.orders.update(current)
        await uow.commit()

    stored = await read(new_unit_of_work, order)
    assert (stored.status, stored.version, stored.tracking_number) == ("shipped", 3, "1Z999")
    async with new_unit_of_work() as uow:
        assert await uow.orders.has_event(order.id, confirmed)
        assert await uow.orders.has_event(order.id, shipped)


async def test_a_transition_is_not_stored_without_commit(
    new_unit_of_work: Callable[[], UnitOfWork],
) -> None:
    order = await committed(new_unit_of_work)
    event_id = uuid4()
    async with new_unit_of_work() as uow:
        current = await uow.orders.get(order.id)
        assert current is not None
        current.confirm(event_id=event_id, now=LATER)
        uow.orders.update(current)

    stored = await read(new_unit_of_work, order)
    assert (stored.status, stored.version) == ("placed", 1)
    async with new_unit_of_work() as uow:
        assert not await uow.orders.has_event(order.id, event_id)


async def test_a_transition_from_a_version_that_moved_on_is_refused(
    new_unit_of_work: Callable[[], UnitOfWork],
) -> None:
    order = await committed(new_unit_of_work)
    winner_event, loser_event = uuid4(), uuid4()
    async with new_unit_of_work() as first, new_unit_of_work() as second:
        winner = await first.orders.get(order.id)
        loser = await second.orders.get(order.id)
        assert winner is not None  # both read version 1
        assert loser is not None
        winner.confirm(event_id=winner_event, now=NOW)
        first.orders.update(winner)
        await first.commit()
        loser.cancel(event_id=loser_event, now=LATER)
        second.orders.update(loser)
        with pytest.raises(OrderChangedMeanwhile) as refused:
            await second.commit()

    assert refused.value.current_version == 2
    stored = await read(new_unit_of_work, order)
    assert (stored.status, stored.version) == ("confirmed", 2)
    async with new_unit_of_work() as uow:
        assert await uow.orders.has_event(order.id, winner_event)
        assert not await uow.orders.has_event(order.id, loser_event)


async def test_has_event_knows_the_events_of_that_order_only(
    new_unit_of_work: Callable[[], UnitOfWork],
) -> None:
    order, other = await committed(new_unit_of_work), await committed(new_unit_of_work)
    (created,) = order.events

    async with new_unit_of_work() as uow:
        assert await uow.orders.has_event(order.id, created.event_id)
        assert not await uow.orders.has_event(other.id, created.event_id)
        assert not await uow.orders.has_event(order.id, uuid4())
        assert not await uow.orders.has_event(uuid4(), created.event_id)
