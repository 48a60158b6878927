"""The batch handler the consumer runner calls: what each failure becomes for the runner."""

from __future__ import annotations

import pytest
from aiokafka import ConsumerRecord
from structlog.testing import capture_logs

from order_platform.building_blocks.kafka.consumer import Delivery
from order_platform.contracts import event_headers
from order_platform.contracts.order_events import OrderEventV1, read_order_event
from order_platform.notification_service.application.notify_customer import (
    NotificationInFlight,
    NotifyCustomerHandler,
)
from order_platform.notification_service.application.notify_in_order import NotifyInOrderHandler
from order_platform.notification_service.application.ports import (
    LedgerUnavailable,
    NotificationFailed,
    NotificationSender,
)
from order_platform.notification_service.entrypoints.worker import (
    PARKED,
    RELEASED,
    NotificationBatchHandler,
    ParkingLog,
)
from order_platform.notification_service.infrastructure.log_sender import LogNotificationSender
from tests.support.events import order_created
from tests.unit.notification_service.builders import (
    order_cancelled,
    order_confirmed,
    order_shipped,
)
from tests.unit.notification_service.fakes import FakeLedger, FakeOrderProgress, RecordingSender


def delivered(event: OrderEventV1, offset: int = 0) -> Delivery[OrderEventV1]:
    value = event.to_json()
    record = ConsumerRecord(
        topic="orders",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=str(event.order_id).encode(),
        value=value,
        checksum=None,
        serialized_key_size=36,
        serialized_value_size=len(value),
        headers=event_headers(event_type=event.event_type, correlation_id="c-1"),
    )
    return Delivery(read_order_event(value), record)  # as the consumer runner decodes it


def batch_handler(
    sender: NotificationSender, ledger: FakeLedger, orders: FakeOrderProgress
) -> NotificationBatchHandler:
    notify = NotifyCustomerHandler(sender=sender, ledger=ledger)
    return NotificationBatchHandler(
        NotifyInOrderHandler(notify=notify, orders=orders, report=ParkingLog())
    )


@pytest.fixture
def handle(
    sender: RecordingSender, ledger: FakeLedger, orders: FakeOrderProgress
) -> NotificationBatchHandler:
    return batch_handler(sender, ledger, orders)


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


async def test_the_log_sender_writes_the_one_line_per_order(
    ledger: FakeLedger, orders: FakeOrderProgress
) -> None:
    handle = batch_handler(LogNotificationSender(), ledger, orders)
    event = order_created(customer_name="Lucas", total_amount="199.9")

    with capture_logs() as logs:
        await handle([delivered(event)])
        await handle([delivered(event, 1)])  # redelivered

    lines = [entry for entry in logs if entry["event"].startswith("📩")]
    assert [entry["event"] for entry in lines] == [
        f"📩 Notification sent to Lucas | Order: {event.order_id} | Total: $199.90"
    ]
    assert lines[0]["event_id"] == str(event.event_id)


async def test_the_log_sender_writes_one_line_per_transition_with_the_customers_name(
    ledger: FakeLedger, orders: FakeOrderProgress
) -> None:
    handle = batch_handler(LogNotificationSender(), ledger, orders)
    placed = order_created(customer_name="Ana")
    order = placed.order_id
    other = order_created(customer_name="Bia")
    events = [
        placed,
        order_confirmed(order),
        order_shipped(order, tracking_number="BR123"),
        other,
        order_cancelled(other.order_id, version=2, reason="Too late"),
        order_cancelled(order_created().order_id, version=2),  # an order never seen
    ]

    with capture_logs() as logs:
        await handle([delivered(event, n) for n, event in enumerate(events)])

    lines = {entry["event"] for entry in logs if entry["event"][0] in "📩✅📦❌"}
    assert lines == {
        f"📩 Notification sent to Ana | Order: {order} | Total: $199.90",
        f"✅ Order {order} confirmed | Ana",
        f"📦 Order {order} shipped to Ana | Tracking: BR123",
        f"📩 Notification sent to Bia | Order: {other.order_id} | Total: $199.90",
        f"❌ Order {other.order_id} cancelled | Reason: Too late",
        f"❌ Order {events[-1].order_id} cancelled | Reason: -",
    }


async def test_an_orders_events_in_one_batch_are_told_one_after_another_in_order(
    handle: NotificationBatchHandler, sender: RecordingSender
) -> None:
    placed = order_created()
    order = placed.order_id

    await handle(
        [
            delivered(placed),
            delivered(order_confirmed(order), 1),
            delivered(order_shipped(order), 2),
        ]
    )

    assert [n.event_type for n in sender.sent] == ["OrderCreated", "OrderConfirmed", "OrderShipped"]


async def test_a_park_and_its_release_each_log_a_line_and_count(
    handle: NotificationBatchHandler,
) -> None:
    placed = order_created()
    order = placed.order_id
    cancel = order_cancelled(order)
    parked, released = PARKED._value.get(), RELEASED._value.get()

    with capture_logs() as logs:
        await handle([delivered(placed), delivered(cancel, 1)])
        await handle([delivered(order_confirmed(order), 2)])

    events = {entry["event"]: entry for entry in logs}
    assert events["notification_parked"]["order_id"] == str(order)
    assert events["notification_parked"]["order_version"] == 3
    assert events["notification_parked"]["waiting_for"] == 2
    assert events["notification_released"]["event_id"] == str(cancel.event_id)
    assert events["notification_released"]["waited_for"] == 2
    assert (PARKED._value.get(), RELEASED._value.get()) == (parked + 1, released + 1)
