"""Projection and queries of the read service against the real broker, MongoDB and Redis."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from order_platform.contracts import OrderCreatedV1, dead_letter_topic
from order_platform.devtools.embedded import RedisServer
from order_platform.read_service.infrastructure.settings import ReadServiceSettings
from tests.support.events import order_created, produce
from tests.support.kafka_topic import read_topic
from tests.support.waiting import eventually

Database = AsyncDatabase[dict[str, Any]]
T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def expected_json(event: OrderCreatedV1) -> dict[str, str | int]:
    created_at = event.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "id": str(event.order_id),
        "customerName": event.customer_name,
        "totalAmount": f"{event.total_amount:.2f}",
        "createdAt": created_at,
        "status": "placed",
        "version": 1,
        "updatedAt": created_at,
    }


async def visible(client: httpx.AsyncClient, event: OrderCreatedV1) -> httpx.Response | None:
    response = await client.get(f"/orders/{event.order_id}")
    return response if response.status_code == 200 else None


async def test_a_projected_order_is_served_by_id_and_in_the_list(
    client: httpx.AsyncClient, settings: ReadServiceSettings
) -> None:
    event = order_created(customer_name="Zoë 李", total_amount="199.9")
    unknown = await client.get(f"/orders/{event.order_id}")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")

    await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, [event])
    response = await eventually(lambda: visible(client, event), what="order projected")

    assert response.json() == expected_json(event)
    listed = await client.get("/orders")
    assert listed.json() == [expected_json(event)]
    assert "link" not in listed.headers


async def test_guarantee_2_a_redelivered_or_older_duplicate_changes_nothing(
    client: httpx.AsyncClient, settings: ReadServiceSettings, database: Database
) -> None:
    newer = order_created(customer_name="Newer")
    older = OrderCreatedV1(
        **(newer.model_dump() | {"event_id": order_created().event_id, "customer_name": "Older"})
    )
    marker = order_created()
    await produce(
        settings.kafka_bootstrap_servers,
        settings.order_events_topic,
        [newer, newer, older, marker],
    )
    await eventually(lambda: visible(client, marker), what="all projected")

    documents = await database.orders.find({"_id": str(newer.order_id)}).to_list()
    assert len(documents) == 1
    assert documents[0]["customerName"] == "Newer"
    assert documents[0]["eventId"] == str(newer.event_id)
    listed = (await client.get("/orders")).json()
    assert [order["id"] for order in listed].count(str(newer.order_id)) == 1
    assert (await client.get(f"/orders/{newer.order_id}")).json()["customerName"] == "Newer"


async def test_pagination_walks_every_order_once_newest_first_while_orders_arrive(
    client: httpx.AsyncClient, settings: ReadServiceSettings
) -> None:
    # 3 orders per second over 40 seconds of history: many buckets, pages that cross them.
    history = [
        order_created(customer_name=f"C{n}", created_at=T0 + timedelta(milliseconds=333 * n))
        for n in range(120)
    ]
    await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, history)
    await eventually(lambda: visible(client, history[-1]), what="history projected")
    await eventually(lambda: _listed_count(client, len(history)), what="history listed")

    walked: list[str] = []
    url = "/orders?limit=7"
    pages = 0
    while url:
        response = await client.get(url)
        assert response.status_code == 200
        walked += [order["id"] for order in response.json()]
        pages += 1
        if pages == 3:  # newer orders arrive mid-walk; they belong before the first page
            late = [order_created() for _ in range(5)]
            await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, late)
            await eventually(partial(visible, client, late[-1]), what="late orders projected")
        url = _next_link(response)

    newest_first = [
        str(e.order_id) for e in sorted(history, key=lambda e: e.created_at, reverse=True)
    ]
    assert walked == newest_first
    assert pages == 18


async def test_a_cached_list_is_invalidated_when_a_new_event_is_projected(
    client: httpx.AsyncClient, settings: ReadServiceSettings
) -> None:
    first = order_created()
    await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, [first])
    await eventually(lambda: visible(client, first), what="first projected")
    assert len((await client.get("/orders")).json()) == 1
    assert len((await client.get("/orders")).json()) == 1  # now from the cache

    second = order_created()
    await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, [second])
    await eventually(lambda: visible(client, second), what="second projected")
    assert len((await client.get("/orders")).json()) == 2


async def test_guarantee_4_reads_answer_from_mongodb_while_redis_is_down(
    client: httpx.AsyncClient, settings: ReadServiceSettings, redis_server: RedisServer
) -> None:
    before = order_created()
    await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, [before])
    await eventually(lambda: visible(client, before), what="projected")
    await client.get("/orders")

    with redis_server.stopped():
        during = order_created()
        await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, [during])
        await eventually(lambda: visible(client, during), what="projected without Redis")
        listed = await client.get("/orders")
        assert listed.status_code == 200
        assert len(listed.json()) == 2
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"]["redis"].startswith("unavailable")

    async def caching_again() -> bool:
        ready = await client.get("/health/ready")
        await client.get(f"/orders/{during.order_id}")
        return ready.json()["checks"]["redis"] == "ok"

    await eventually(caching_again, what="Redis back in use")
    assert len((await client.get("/orders")).json()) == 2


async def test_guarantee_3_poison_events_are_dead_lettered_and_later_events_projected(
    client: httpx.AsyncClient, settings: ReadServiceSettings
) -> None:
    valid = order_created()
    wire = json.loads(valid.to_json())
    poison = [
        b"{not json",
        json.dumps({"eventType": "OrderCreated"}).encode(),
        json.dumps(wire | {"eventVersion": 2}).encode(),
    ]
    await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, poison, key=b"k")
    await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, [valid])

    await eventually(lambda: visible(client, valid), what="the event after the poison projected")
    letters = await eventually(lambda: _letters(settings, 3), what="three dead letters")
    assert sorted(letter.value for letter in letters) == sorted(poison)
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["dlq-original-topic"] == settings.order_events_topic.encode()
        assert {"dlq-error", "dlq-original-partition", "dlq-original-offset"} <= set(headers)


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=201",
        "limit=abc",
        "limit=-1",
        "cursor=%%%",
        "cursor=bm90LWEtY3Vyc29y",
        "cursor=",
    ],
)
async def test_malformed_limits_and_cursors_are_422(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/orders?{query}")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_malformed_order_id_is_422_and_unknown_routes_404(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/orders/not-a-uuid")).status_code == 422
    assert (await client.get("/nowhere")).status_code == 404
    assert (await client.post("/orders")).status_code == 405


async def _listed_count(client: httpx.AsyncClient, expected: int) -> bool:
    return len((await client.get("/orders?limit=200")).json()) >= expected


async def _letters(settings: ReadServiceSettings, count: int) -> list[Any] | None:
    topic = dead_letter_topic(settings.order_events_topic, settings.consumer_group)
    letters = await read_topic(settings.kafka_bootstrap_servers, topic)
    return letters if len(letters) >= count else None


def _next_link(response: httpx.Response) -> str:
    link = response.headers.get("link")
    if link is None:
        return ""
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match, link
    return match.group(1)
