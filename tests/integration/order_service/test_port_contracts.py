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
    UnitOfWork,
)
from order_platform.order_service.domain import Order
from order_platform.order_service.infrastructure.idempotency_keys import MongoIdempotencyKeys
from order_platform.order_service.infrastructure.write_model import MongoUnitOfWork
from order_platform.order_service.outbox.entry import OutboxEntry
from tests.unit.order_service.fakes import FakeIdempotencyKeys, FakeStore, FakeUnitOfWork
from tests.unit.order_service.relay_fakes import RecordingHandoff

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


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
