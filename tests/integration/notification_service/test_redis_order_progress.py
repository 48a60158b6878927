"""The orders' progress: one contract for the fake and for Redis, then what only Redis has."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import cast
from uuid import uuid4

import pytest

from order_platform.devtools.embedded.ports import find_free_port
from order_platform.notification_service.application.ports import (
    LedgerUnavailable,
    OrderProgressLedger,
)
from order_platform.notification_service.domain import OrderProgress
from order_platform.notification_service.infrastructure.parked_listing import OrdersWithParked
from order_platform.notification_service.infrastructure.redis_ledger import new_redis_client
from order_platform.notification_service.infrastructure.redis_order_progress import (
    RedisOrderProgress,
)
from tests.unit.notification_service.builders import cancelled, confirmed, shipped
from tests.unit.notification_service.fakes import FakeOrderProgress


@pytest.fixture
async def redis_orders(redis_url: str, unique_name: str) -> AsyncIterator[RedisOrderProgress]:
    client = new_redis_client(redis_url, timeout_seconds=1)
    yield RedisOrderProgress(client, key_prefix=unique_name, keep_for=timedelta(hours=1))
    await client.aclose()


@pytest.fixture(params=["fake", "redis"])
def orders(request: pytest.FixtureRequest) -> OrderProgressLedger:
    if request.param == "fake":
        return FakeOrderProgress()
    orders: OrderProgressLedger = request.getfixturevalue("redis_orders")
    return orders


async def test_contract_an_order_without_a_record_is_unknown(orders: OrderProgressLedger) -> None:
    assert await orders.progress(uuid4()) == OrderProgress()


async def test_contract_a_seen_creation_starts_the_order_at_version_0_with_its_name(
    orders: OrderProgressLedger,
) -> None:
    order = uuid4()

    started = await orders.remember_customer(order, "Ana ✓")

    assert started == OrderProgress(notified_version=0, customer_name="Ana ✓")
    assert await orders.progress(order) == started


async def test_contract_remembering_the_name_again_keeps_the_orders_version(
    orders: OrderProgressLedger,
) -> None:
    order = uuid4()
    await orders.advance(order, 3)  # an order without a record, started at version 3

    assert await orders.remember_customer(order, "Ana") == OrderProgress(3, "Ana")


async def test_contract_advancing_never_lowers_the_version(orders: OrderProgressLedger) -> None:
    order = uuid4()
    await orders.remember_customer(order, "Ana")

    assert (await orders.advance(order, 2)).notified_version == 2
    assert (await orders.advance(order, 1)).notified_version == 2
    assert (await orders.advance(order, 4)).notified_version == 4


async def test_contract_a_parked_event_is_kept_without_its_name_until_advanced_past(
    orders: OrderProgressLedger,
) -> None:
    order = uuid4()
    await orders.remember_customer(order, "Ana")
    shipping, cancel = shipped(order, tracking_number="T-1"), cancelled(order, version=4)

    await orders.park(shipping)
    parked = await orders.park(cancel)
    assert parked == OrderProgress(0, "Ana", {3: shipping, 4: cancel})
    assert await orders.park(cancel) == parked  # parking again changes nothing

    assert await orders.advance(order, 3) == OrderProgress(3, "Ana", {4: cancel})
    assert await orders.progress(order) == OrderProgress(3, "Ana", {4: cancel})


async def test_contract_concurrent_advances_keep_the_highest(orders: OrderProgressLedger) -> None:
    order = uuid4()

    await asyncio.gather(*(orders.advance(order, version) for version in (5, 2, 7, 3)))

    assert (await orders.progress(order)).notified_version == 7


async def test_contract_a_parked_event_of_an_order_without_a_record_is_kept(
    orders: OrderProgressLedger,
) -> None:
    """The record may expire between the read and the park: the park still lands."""
    order = uuid4()
    confirmation = confirmed(order)

    assert await orders.park(confirmation) == OrderProgress(parked={2: confirmation})


@pytest.fixture(params=["fake", "redis"])
def listed_orders(request: pytest.FixtureRequest) -> OrdersWithParked:
    if request.param == "fake":
        return FakeOrderProgress()
    orders: OrdersWithParked = request.getfixturevalue("redis_orders")
    return orders


async def test_contract_orders_with_parked_events_are_listed_and_no_others(
    listed_orders: OrdersWithParked,
) -> None:
    """`order-platform dlq list` reads them (read-only, bounded)."""
    orders = cast(OrderProgressLedger, listed_orders)
    waiting, notified, other = uuid4(), uuid4(), uuid4()
    await orders.remember_customer(waiting, "Ana")
    await orders.park(cancelled(waiting, version=4))
    await orders.advance(notified, 2)
    await orders.park(confirmed(other))  # its creation not seen yet

    found, complete = await listed_orders.with_parked(limit=10, scan_at_most=1000)

    assert complete
    assert {order: (p.waiting_for, sorted(p.parked)) for order, p in found} == {
        waiting: (1, [4]),
        other: (1, [2]),
    }


async def test_contract_the_listing_of_orders_with_parked_events_stops_at_its_limit(
    listed_orders: OrdersWithParked,
) -> None:
    orders = cast(OrderProgressLedger, listed_orders)
    for _ in range(3):
        await orders.park(confirmed(uuid4()))

    found, complete = await listed_orders.with_parked(limit=2, scan_at_most=1000)

    assert (len(found), complete) == (2, False)


async def test_the_record_shares_the_retention_of_sent_records_refreshed_by_every_write(
    redis_url: str, unique_name: str
) -> None:
    client = new_redis_client(redis_url, timeout_seconds=1)
    short = RedisOrderProgress(client, key_prefix=unique_name, keep_for=timedelta(seconds=60))
    try:
        order = uuid4()
        await short.remember_customer(order, "Ana")
        await client.pexpire(short.key(order), 1000)
        await short.park(cancelled(order))

        ttl = await client.pttl(short.key(order))
        assert 59_000 < ttl <= 60_000
    finally:
        await client.aclose()


async def test_an_unreachable_redis_is_ledger_unavailable() -> None:
    client = new_redis_client(f"redis://127.0.0.1:{find_free_port()}/0", timeout_seconds=0.2)
    orders = RedisOrderProgress(client, key_prefix="x", keep_for=timedelta(hours=1))
    try:
        with pytest.raises(LedgerUnavailable):
            await orders.progress(uuid4())
        with pytest.raises(LedgerUnavailable):
            await orders.advance(uuid4(), 2)
    finally:
        await client.aclose()
