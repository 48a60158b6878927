"""The batch handler the consumer runner calls: what each failure becomes for the runner."""

from __future__ import annotations

import pytest
from aiokafka import ConsumerRecord
from structlog.testing import capture_logs

from order_platform.building_blocks.kafka.consumer import Delivery
from order_platform.contracts import OrderCreatedV1, event_headers
from order_platform.notification_service.application.notify_customer import (
    NotificationInFlight,
    NotifyCustomerHandler,
)
from order_platform.notification_service.application.ports import (
    LedgerUnavailable,
    NotificationFailed,
)
from order_platform.notification_service.entrypoints.worker import NotificationBatchHandler
from order_platform.notification_service.infrastructure.log_sender import LogNotificationSender
from tests.support.events import order_created
from tests.unit.notification_service.fakes import FakeLedger, RecordingSender


def delivered(event: OrderCreatedV1, offset: int = 0) -> Delivery[OrderCreatedV1]:
    value = event.to_json()
    record = ConsumerRecord(
        topic="order-created",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=str(event.order_id).encode(),
        value=value,
        checksum=None,
        serialized_key_size=36,
        serialized_value_size=len(value),
        headers=event_headers(correlation_id="c-1"),
    )
    return Delivery(event, record)


@pytest.fixture
def handle(sender: RecordingSender, ledger: FakeLedger) -> NotificationBatchHandler:
    return NotificationBatchHandler(NotifyCustomerHandler(sender=sender, ledger=ledger))


async def test_an_event_twice_in_one_batch_is_sent_once(
    handle: NotificationBatchHandler, sender: RecordingSender
) -> None:
    event, other = order_created(), order_created()

    await handle([delivered(event, 0), delivered(other, 1), delivered(event, 2)])

    assert sorted(n.order_id for n in sender.sent) == sorted([event.order_id, other.order_id])


async def test_an_unavailable_ledger_is_waited_for_not_dead_lettered(
    handle: NotificationBatchHandler, ledger: FakeLedger, sender: RecordingSender
) -> None:
    ledger.available = False

    with pytest.raises(LedgerUnavailable):  # an Unavailable: the consumer loop waits
        await handle([delivered(order_created())])
    assert sender.sent == []


async def test_an_event_being_sent_elsewhere_is_waited_for(
    handle: NotificationBatchHandler, ledger: FakeLedger
) -> None:
    event = order_created()
    await ledger.claim(event.event_id)  # another replica holds it

    with pytest.raises(NotificationInFlight):  # an Unavailable: the consumer loop waits
        await handle([delivered(event)])


async def test_a_failed_send_is_raised_after_the_rest_of_the_batch_went_out(
    handle: NotificationBatchHandler, sender: RecordingSender, ledger: FakeLedger
) -> None:
    events = [order_created() for _ in range(3)]
    sender.failures_left = 1
    blocked = order_created()
    await ledger.claim(blocked.event_id)  # in flight elsewhere: the send failure wins

    with pytest.raises(NotificationFailed):
        await handle([delivered(blocked), *(delivered(e, n + 1) for n, e in enumerate(events))])

    assert len(sender.sent) == 2
    await handle([delivered(e) for e in events])  # the retry sends only the missing one
    assert sorted(n.order_id for n in sender.sent) == sorted(e.order_id for e in events)


async def test_the_log_sender_writes_the_one_line_per_order(ledger: FakeLedger) -> None:
    handle = NotificationBatchHandler(
        NotifyCustomerHandler(sender=LogNotificationSender(), ledger=ledger)
    )
    event = order_created(customer_name="Lucas", total_amount="199.9")

    with capture_logs() as logs:
        await handle([delivered(event)])
        await handle([delivered(event, 1)])  # redelivered

    lines = [entry for entry in logs if entry["event"].startswith("📩")]
    assert [entry["event"] for entry in lines] == [
        f"📩 Notification sent to Lucas | Order: {event.order_id} | Total: $199.90"
    ]
    assert lines[0]["event_id"] == str(event.event_id)
