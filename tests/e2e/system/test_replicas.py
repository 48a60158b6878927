"""Guarantee 5 end to end: two replicas of the read service and of the worker share the work.

Each consumer group splits the topic's partitions between its replicas; when one replica
crashes its partitions move to the other and come back after the restart. The result must
be the same as with one of each: every order listed once (by either replica) and notified once.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.system import (
    NOTIFICATION,
    Outcome,
    acknowledged,
    logical_orders,
    running_system,
    steady_traffic,
    walk_orders,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

ORDERS = 120
RATE = 12.0


async def test_two_replicas_of_each_consumer_list_and_notify_every_order_once(
    kafka_bootstrap: str, mongodb_uri: str, redis_url: str, unique_name: str, tmp_path: Path
) -> None:
    with running_system(
        name=unique_name,
        kafka_bootstrap=kafka_bootstrap,
        mongodb_uri=mongodb_uri,
        redis_url=redis_url,
        log_dir=tmp_path,
        replicas=2,
    ) as system:
        orders = logical_orders(unique_name, ORDERS)
        first_half = orders[: ORDERS // 2]
        await steady_traffic(system.order.url, first_half, rate=RATE)
        # A crash of one replica of each group moves its partitions to the other one.
        system.reads[1].kill()
        system.workers[1].kill()
        system.reads[1].start()
        system.workers[1].start()
        await steady_traffic(system.order.url, orders[ORDERS // 2 :], rate=RATE)
        assert acknowledged(orders) == ORDERS, [o.attempts for o in orders if o.attempts != ["201"]]

        ids = Counter(order.order["id"] for order in orders if order.order is not None)

        async def all_notified() -> bool:
            return set(system.notified()) == set(ids)

        await eventually(all_notified, timeout=30, interval=0.2, what="every order notified")
        await system.wait_until_idle(timeout=30)

        assert system.notified() == ids, system.logs()
        per_worker = [len(NOTIFICATION.findall(worker.log())) for worker in system.workers]
        assert all(per_worker), f"both workers took partitions: {per_worker}"
        for replica in system.reads:  # either replica answers for every order
            assert Counter(order["id"] for order in walk_orders(replica.url)) == ids
        async with httpx.AsyncClient(timeout=10) as client:
            for number, order in enumerate(orders):
                assert order.outcome is Outcome.ACKNOWLEDGED
                assert order.order is not None
                replica = system.reads[number % 2]
                response = await client.get(f"{replica.url}/orders/{order.order['id']}")
                assert response.json() == order.order
