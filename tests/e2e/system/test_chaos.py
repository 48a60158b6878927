"""Guarantees 1, 2 and 4 together: crashes of every part under a steady stream of orders.

A client POSTs a bounded stream at a fixed rate, one Idempotency-Key per logical order and a
few retries; meanwhile Redis goes away and comes back, and each service is SIGKILLed and
restarted in turn. Afterwards, once the system is idle, what the client was told must match
what exists: every acknowledged order is listed, readable and notified exactly once; nothing
the client saw refused exists anywhere; and the write model holds exactly what was projected.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from order_platform.devtools.embedded import PlatformService, RedisServer
from tests.support.outbox import pending_in
from tests.support.system import (
    NOTIFICATION,
    LogicalOrder,
    Outcome,
    System,
    acknowledged,
    logical_orders,
    steady_traffic,
    walk_orders,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

ORDERS = 320
RATE = 10.0  # orders per second: about 32 s of traffic, room for five faults and restarts
STEP = 25  # acknowledged orders between two faults


async def after_more_acknowledged(orders: list[LogicalOrder], count: int) -> None:
    target = acknowledged(orders) + count

    async def reached() -> bool:
        return acknowledged(orders) >= target

    await eventually(reached, timeout=20, interval=0.05, what=f"{target} orders acknowledged")


async def crash_and_restart(service: PlatformService) -> None:
    await asyncio.to_thread(service.kill)
    await asyncio.to_thread(service.start)


async def test_every_acknowledged_order_is_read_and_notified_once_through_crashes(
    system: System,
    redis_server: RedisServer,
    mongo: MongoClient[dict[str, Any]],
    unique_name: str,
) -> None:
    orders = logical_orders(unique_name, ORDERS)
    traffic = asyncio.create_task(steady_traffic(system.order.url, orders, rate=RATE))
    faults: list[tuple[str, Callable[[], Any]]] = [
        ("order-service", lambda: crash_and_restart(system.order)),
        ("read-service", lambda: crash_and_restart(system.reads[0])),
        ("notification-service", lambda: crash_and_restart(system.workers[0])),
    ]
    # Redis first: it keeps the notification ledger in memory only, so a restart forgets what
    # was sent. Later redeliveries (after the crashes) then only concern events sent since.
    await after_more_acknowledged(orders, STEP)
    await asyncio.to_thread(redis_server.stop)
    try:
        await after_more_acknowledged(orders, STEP)
    finally:
        await asyncio.to_thread(redis_server.start)
    for name, fault in faults:
        await after_more_acknowledged(orders, STEP)
        assert not traffic.done(), f"{name} killed under traffic"
        await fault()
    await traffic

    write = mongo[system.write_db].orders

    async def outbox_drained() -> bool:
        return pending_in(mongo[system.write_db]) == 0

    await eventually(outbox_drained, timeout=30, interval=0.2, what="outbox drained")
    await system.wait_until_idle(timeout=60)

    outcomes = Counter(order.outcome for order in orders)
    listed = walk_orders(system.reads[0].url)
    listed_ids = Counter(order["id"] for order in listed)
    listed_names = {order["customerName"] for order in listed}
    notified = system.notified()
    notified_names = {
        match["name"] for worker in system.workers for match in NOTIFICATION.finditer(worker.log())
    }
    report = f"outcomes {dict(outcomes)}\n{system.logs()}"

    assert outcomes[Outcome.ACKNOWLEDGED] >= ORDERS * 0.8, report
    assert set(listed_ids.values()) == {1}, f"listed twice: {listed_ids.most_common(3)}"
    assert notified == listed_ids, report  # every stored order notified once, nothing else
    assert write.count_documents({}) == len(listed), "stored = projected: no loss, no phantom"

    async with httpx.AsyncClient(base_url=system.reads[0].url, timeout=10) as client:
        for order in orders:
            if order.outcome is Outcome.ACKNOWLEDGED:
                assert order.order is not None
                assert listed_ids[order.order["id"]] == 1, order
                response = await client.get(f"/orders/{order.order['id']}")
                assert response.status_code == 200, order
                assert response.json() == order.order
            elif order.outcome is Outcome.REFUSED:
                assert order.customer_name not in listed_names, order
                assert order.customer_name not in notified_names, order
