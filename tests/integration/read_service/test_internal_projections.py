"""`GET /internal/projections`: when an order became readable, for the operator console."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx

from order_platform.contracts.order_events import OrderShippedV1
from order_platform.read_service.infrastructure.settings import ReadServiceSettings
from tests.support.events import order_created, produce
from tests.support.waiting import eventually


async def test_the_projection_time_of_an_order_is_when_it_became_readable(
    client: httpx.AsyncClient, settings: ReadServiceSettings
) -> None:
    event = order_created(created_at=datetime.now(UTC) - timedelta(minutes=5))
    unknown = uuid4()
    before = datetime.now(UTC)
    await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, [event])

    async def readable() -> bool:
        return (await client.get(f"/orders/{event.order_id}")).status_code == 200

    await eventually(readable, timeout=20, what="order projected")
    after = datetime.now(UTC)

    response = await client.get(
        "/internal/projections",
        params=[("orderId", str(event.order_id)), ("orderId", str(unknown))],
    )

    assert response.status_code == 200, response.text
    projections = response.json()["projections"]
    assert set(projections) == {str(event.order_id)}  # the unknown order is absent
    found = projections[str(event.order_id)]
    assert found["eventId"] == str(event.event_id)
    assert datetime.fromisoformat(found["createdAt"]) == event.created_at.replace(
        microsecond=event.created_at.microsecond // 1000 * 1000
    )
    projected = datetime.fromisoformat(found["projectedAt"])
    # The time it was stored, not the event's creation time five minutes earlier.
    assert before - timedelta(milliseconds=1) <= projected <= after


async def test_projections_refuse_a_request_without_order_ids_or_with_bad_ones(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/internal/projections")).status_code == 422
    bad = await client.get("/internal/projections", params={"orderId": "not-a-uuid"})
    assert bad.status_code == 422


async def test_each_order_says_its_version_and_its_changes_parked_waiting_for_a_missing_one(
    client: httpx.AsyncClient, settings: ReadServiceSettings
) -> None:
    """The console shows each event of an order: projected up to `version`, or parked."""
    event = order_created()
    at = datetime.now(UTC)
    shipped = OrderShippedV1(
        event_id=uuid4(), occurred_at=at, order_id=event.order_id, order_version=3
    )
    await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, [event, shipped])

    async def answered() -> dict[str, Any]:
        response = await client.get(
            "/internal/projections", params={"orderId": str(event.order_id)}
        )
        body: dict[str, Any] = response.json()
        return body if body["parked"] else {}

    body = await eventually(answered, timeout=20, what="the shipment parked")

    assert body["projections"][str(event.order_id)]["version"] == 1
    assert body["parked"] == {
        str(event.order_id): [{"eventId": str(shipped.event_id), "version": 3, "waitingFor": 2}]
    }
