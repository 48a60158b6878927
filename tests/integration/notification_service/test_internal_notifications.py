"""`GET /internal/notifications` and the ledger's `sent_at`: when an event was notified."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from order_platform.contracts.order_events import OrderCancelledV1
from order_platform.notification_service.application.ports import ClaimState
from order_platform.notification_service.infrastructure.redis_ledger import (
    RedisNotificationLedger,
    new_redis_client,
)
from order_platform.notification_service.infrastructure.settings import (
    NotificationServiceSettings,
)
from tests.integration.notification_service.conftest import running
from tests.support.events import order_created, produce
from tests.support.waiting import eventually


async def test_sent_at_is_when_the_sent_record_was_written_and_pending_ones_are_absent(
    redis_url: str, unique_name: str
) -> None:
    client = new_redis_client(redis_url, timeout_seconds=1)
    ledger = RedisNotificationLedger(
        client,
        key_prefix=unique_name,
        claim_for=timedelta(seconds=5),
        keep_sent_for=timedelta(hours=1),
    )
    try:
        sent, pending, unknown = uuid4(), uuid4(), uuid4()
        claim = await ledger.claim(sent)
        assert claim.state is ClaimState.CLAIMED
        before = datetime.now(UTC)
        await ledger.mark_sent(claim)
        after = datetime.now(UTC)
        await ledger.claim(pending)
        await asyncio.sleep(0.3)  # the record ages; its time must not move with it

        times = await ledger.sent_at([sent, pending, unknown])

        assert set(times) == {sent}
        assert (
            before - timedelta(milliseconds=5) <= times[sent] <= after + timedelta(milliseconds=5)
        )
    finally:
        await client.aclose()


async def test_the_worker_serves_the_notification_time_of_an_event(
    settings: NotificationServiceSettings,
) -> None:
    event = order_created()
    async with running(settings) as client:
        await produce(settings.kafka_bootstrap_servers, settings.order_events_topic, [event])

        async def notified() -> dict[str, str]:
            response = await client.get(
                "/internal/notifications",
                params=[("eventId", str(event.event_id)), ("eventId", str(uuid4()))],
            )
            assert response.status_code == 200, response.text
            found: dict[str, str] = response.json()["notifications"]
            return found

        found = await eventually(notified, timeout=30, what="notification recorded")

    assert set(found) == {str(event.event_id)}
    sent_at = datetime.fromisoformat(found[str(event.event_id)])
    assert abs(datetime.now(UTC) - sent_at) < timedelta(seconds=30)


async def test_the_worker_serves_the_parked_events_of_the_orders_asked_for(
    settings: NotificationServiceSettings,
) -> None:
    """The console shows a parked event as parked, with the version it waits for."""
    event = order_created()
    cancel = OrderCancelledV1(
        event_id=uuid4(), occurred_at=datetime.now(UTC), order_id=event.order_id, order_version=3
    )
    async with running(settings) as client:
        await produce(
            settings.kafka_bootstrap_servers, settings.order_events_topic, [event, cancel]
        )

        async def parked() -> dict[str, object]:
            response = await client.get(
                "/internal/notifications",
                params=[("eventId", str(cancel.event_id)), ("orderId", str(event.order_id))],
            )
            assert response.status_code == 200, response.text
            found: dict[str, object] = response.json()["parked"]
            return found

        found = await eventually(parked, timeout=30, what="the cancellation parked")

    assert found == {
        str(cancel.event_id): {"orderId": str(event.order_id), "version": 3, "waitingFor": 2}
    }
