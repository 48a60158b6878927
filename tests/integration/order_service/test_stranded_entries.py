"""Guarantee 1, nothing stranded: entries the relay could not hold are published after all.

The broker is out of reach (a blackholed proxy in front of it) while more orders arrive than
`OUTBOX_MAX_IN_MEMORY` lets the relay hold; they wait in MongoDB. Once the broker is back,
every one of them is published, exactly once, by the same live relay.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from order_platform.contracts import OrderCreatedV1
from order_platform.devtools.embedded import KafkaServer
from order_platform.order_service.infrastructure.settings import OrderServiceSettings
from tests.integration.order_service.conftest import serve
from tests.support.fault_proxy import FaultProxy
from tests.support.kafka_topic import read_topic
from tests.support.outbox import pending_in_async
from tests.support.waiting import eventually

Database = AsyncDatabase[dict[str, Any]]


@pytest.fixture
def broker_path(kafka_server: KafkaServer) -> Iterator[FaultProxy]:
    with FaultProxy(kafka_server.host, kafka_server.port) as proxy:
        yield proxy


async def test_guarantee_1_entries_beyond_the_in_memory_cap_are_published_once_the_broker_returns(
    settings: OrderServiceSettings,
    broker_path: FaultProxy,
    database: Database,
    kafka_bootstrap: str,
) -> None:
    broker_path.blackhole()
    capped = settings.model_copy(
        update={"kafka_bootstrap_servers": broker_path.address, "outbox_max_in_memory": 3}
    )
    async with serve(capped) as client:
        order_ids = []
        for number in range(10):
            response = await client.post(
                "/orders", json={"customerName": f"C{number}", "totalAmount": "5"}
            )
            assert response.status_code == 201, response.text
            order_ids.append(response.json()["id"])
        metrics = (await client.get("/metrics")).text
        assert "outbox_pending_entries 3.0" in metrics  # the rest waits in MongoDB only

        broker_path.heal()

        async def all_published() -> Counter[str]:
            records = await read_topic(kafka_bootstrap, settings.order_events_topic)
            counts = Counter(str(OrderCreatedV1.from_json(r.value).order_id) for r in records)
            return counts if set(counts) >= set(order_ids) else Counter()

        # Bound: the entries' lease (2 s here), a heartbeat, and the broker's reconnection.
        counts = await eventually(all_published, timeout=30, what="every order published")

        async def outbox_empty() -> bool:
            return await pending_in_async(database) == 0

        await eventually(outbox_empty, timeout=10, what="every relay's mark past its entries")

    assert counts == Counter(dict.fromkeys(order_ids, 1))
