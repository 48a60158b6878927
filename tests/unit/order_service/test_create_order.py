import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from order_platform.order_service.application.create_order import (
    CreateOrder,
    CreateOrderHandler,
    IdempotencyKeyReused,
    RequestInFlight,
)
from order_platform.order_service.application.ports import (
    StorageUnavailable,
    WriteOutcomeUnknown,
)
from order_platform.order_service.domain import InvalidOrderField
from tests.unit.order_service.fakes import (
    FakeClock,
    FakeIdempotencyKeys,
    FakeStore,
    FakeUnitOfWork,
    SequentialIds,
)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def keys(store: FakeStore) -> FakeIdempotencyKeys:
    return FakeIdempotencyKeys(store)


@pytest.fixture
def handler(store: FakeStore, keys: FakeIdempotencyKeys, clock: FakeClock) -> CreateOrderHandler:
    return CreateOrderHandler(
        new_unit_of_work=lambda: FakeUnitOfWork(store),
        idempotency_keys=keys,
        clock=clock,
        new_id=SequentialIds(),
    )


LUCAS = CreateOrder("Lucas", Decimal("199.90"))


async def test_an_order_is_stored_with_its_event_in_the_outbox(
    handler: CreateOrderHandler, store: FakeStore
) -> None:
    created = await handler(LUCAS)

    assert not created.replayed
    assert list(store.orders) == [created.order.id]
    assert [event.order_id for event in store.outbox] == [created.order.id]


async def test_an_invalid_order_stores_nothing(
    handler: CreateOrderHandler, store: FakeStore, keys: FakeIdempotencyKeys
) -> None:
    with pytest.raises(InvalidOrderField):
        await handler(CreateOrder("  ", Decimal(1), idempotency_key="k"))
    assert store.orders == {}
    assert store.outbox == []
    assert keys.claims == {}


async def test_a_retry_with_the_same_key_and_body_replays_the_original(
    handler: CreateOrderHandler, store: FakeStore
) -> None:
    first = await handler(CreateOrder("Lucas", Decimal("199.9"), idempotency_key="k-1"))
    again = await handler(CreateOrder(" Lucas ", Decimal("199.90"), idempotency_key="k-1"))

    assert again.replayed
    assert again.order.id == first.order.id
    assert again.order.created_at == first.order.created_at
    assert len(store.orders) == 1
    assert len(store.outbox) == 1


async def test_the_same_key_with_another_body_is_refused(
    handler: CreateOrderHandler, store: FakeStore
) -> None:
    await handler(CreateOrder("Lucas", Decimal(1), idempotency_key="k-1"))
    with pytest.raises(IdempotencyKeyReused):
        await handler(CreateOrder("Lucas", Decimal(2), idempotency_key="k-1"))
    assert len(store.orders) == 1


async def test_different_keys_create_different_orders(
    handler: CreateOrderHandler, store: FakeStore
) -> None:
    await handler(CreateOrder("Lucas", Decimal(1), idempotency_key="a"))
    await handler(CreateOrder("Lucas", Decimal(1), idempotency_key="b"))
    assert len(store.orders) == 2


async def test_a_duplicate_while_the_first_is_in_flight_is_a_conflict(
    handler: CreateOrderHandler, store: FakeStore
) -> None:
    store.commit_gate = asyncio.Event()
    command = CreateOrder("Lucas", Decimal(1), idempotency_key="k-1")
    first = asyncio.create_task(handler(command))
    await asyncio.wait_for(store.commit_waiting.wait(), timeout=1)

    with pytest.raises(RequestInFlight):
        await handler(command)

    store.commit_gate.set()
    created = await asyncio.wait_for(first, timeout=1)
    assert list(store.orders) == [created.order.id]
    assert (await handler(command)).order.id == created.order.id


async def test_a_failed_attempt_gives_its_key_back(
    handler: CreateOrderHandler, store: FakeStore, keys: FakeIdempotencyKeys
) -> None:
    command = CreateOrder("Lucas", Decimal(1), idempotency_key="k-1")
    store.fail_commits = True
    with pytest.raises(StorageUnavailable):
        await handler(command)
    assert keys.claims == {}

    store.fail_commits = False
    created = await handler(command)
    assert not created.replayed
    assert list(store.orders) == [created.order.id]


async def test_a_retry_completes_an_attempt_that_died_after_claiming_its_key(
    handler: CreateOrderHandler, store: FakeStore, keys: FakeIdempotencyKeys, clock: FakeClock
) -> None:
    command = CreateOrder("Lucas", Decimal(1), idempotency_key="k-1")
    store.available = False
    store.claims_work_while_down = True  # the claim landed, then the store went away
    with pytest.raises(StorageUnavailable):
        await handler(command)
    reserved = keys.claims["k-1"].order_id
    store.available = True

    with pytest.raises(RequestInFlight):
        await handler(command)  # too early to tell a dead attempt from a slow one

    clock.advance(handler.in_flight_window + timedelta(seconds=1))
    created = await handler(command)
    assert created.order.id == reserved
    assert list(store.orders) == [reserved]
    assert len(store.outbox) == 1


async def test_guarantee_7_a_lost_reply_keeps_the_key_so_the_retry_replays_the_stored_order(
    handler: CreateOrderHandler, store: FakeStore, keys: FakeIdempotencyKeys
) -> None:
    store.lose_replies = True  # the write is applied, its answer never arrives
    with pytest.raises(WriteOutcomeUnknown):
        await handler(CreateOrder("Lucas", Decimal("199.90"), "k-1"))
    assert "k-1" in keys.claims  # not released: the outcome is unknown
    store.lose_replies = False

    retried = await handler(CreateOrder("Lucas", Decimal("199.90"), "k-1"))

    assert retried.replayed
    assert list(store.orders) == [retried.order.id]  # one order, not two


async def test_guarantee_7_a_retried_insert_that_finds_its_own_order_reports_it_created(
    handler: CreateOrderHandler, store: FakeStore, clock: FakeClock
) -> None:
    # A driver retrying an insert whose first attempt landed gets "duplicate key" for the
    # order's own, freshly generated id: that is our order, stored once, not a conflict.
    first = await handler(LUCAS)
    ids = iter([first.order.id, first.order.events[0].event_id])
    retrying = CreateOrderHandler(
        new_unit_of_work=lambda: FakeUnitOfWork(store),
        idempotency_keys=FakeIdempotencyKeys(store),
        clock=clock,
        new_id=lambda: next(ids),
    )

    created = await retrying(LUCAS)

    assert created.order == first.order
    assert not created.replayed
