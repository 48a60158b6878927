"""The webhook sender against a real HTTP server: what each kind of answer becomes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from uuid import uuid4

import pytest

from order_platform.devtools.embedded.ports import find_free_port
from order_platform.notification_service.application.ports import (
    NotificationFailed,
    NotificationRejected,
)
from order_platform.notification_service.domain import OrderCreatedNotification
from order_platform.notification_service.infrastructure.webhook_sender import (
    WebhookNotificationSender,
)
from tests.integration.notification_service.webhook_receiver import WebhookReceiver
from tests.unit.notification_service.builders import cancelled, shipped


def notification(customer_name: str = "Lucas") -> OrderCreatedNotification:
    return OrderCreatedNotification(
        event_id=uuid4(),
        order_id=uuid4(),
        customer_name=customer_name,
        total_amount=Decimal("199.90"),
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


async def test_a_notification_is_posted_as_json_with_its_event_id_as_idempotency_key(
    receiver: WebhookReceiver,
) -> None:
    sender = WebhookNotificationSender(receiver.url, timeout_seconds=2)
    sent = notification()
    try:
        await sender.send(sent)
    finally:
        await sender.close()

    assert receiver.received == [
        {
            "eventId": str(sent.event_id),
            "eventType": "OrderCreated",
            "orderId": str(sent.order_id),
            "orderVersion": 1,
            "customerName": "Lucas",
            "totalAmount": "199.90",
            "message": f"Hi Lucas, we received your order {sent.order_id}. Total: $199.90.",
        }
    ]
    assert receiver.headers[0]["Idempotency-Key"] == str(sent.event_id)
    assert receiver.headers[0]["Content-Type"] == "application/json"


async def test_a_transition_is_posted_with_its_type_and_its_own_fields(
    receiver: WebhookReceiver,
) -> None:
    order = uuid4()
    shipping = replace(shipped(order, tracking_number="BR123"), customer_name="Ana")
    cancel = cancelled(order, version=2)  # its name unknown, no reason: both absent
    sender = WebhookNotificationSender(receiver.url, timeout_seconds=2)
    try:
        await sender.send(shipping)
        await sender.send(cancel)
    finally:
        await sender.close()

    assert receiver.received == [
        {
            "eventId": str(shipping.event_id),
            "eventType": "OrderShipped",
            "orderId": str(order),
            "orderVersion": 3,
            "customerName": "Ana",
            "trackingNumber": "BR123",
            "message": f"Hi Ana, your order {order} has shipped. Tracking: BR123.",
        },
        {
            "eventId": str(cancel.event_id),
            "eventType": "OrderCancelled",
            "orderId": str(order),
            "orderVersion": 2,
            "message": f"Hi, your order {order} was cancelled.",
        },
    ]


async def test_a_slow_webhook_times_out_within_the_timeout(receiver: WebhookReceiver) -> None:
    sender = WebhookNotificationSender(receiver.url, timeout_seconds=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(NotificationFailed, match="timed out"):
            await sender.send(notification("Slow Lucas"))
    finally:
        await sender.close()
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("customer", "error", "message"),
    [
        ("Broken Lucas", NotificationFailed, "answered 500"),
        ("Refused Lucas", NotificationRejected, "refused the notification with 422"),
    ],
)
async def test_error_answers_are_failures(
    receiver: WebhookReceiver, customer: str, error: type[Exception], message: str
) -> None:
    sender = WebhookNotificationSender(receiver.url, timeout_seconds=2)
    try:
        with pytest.raises(error, match=message) as raised:
            await sender.send(notification(customer))
    finally:
        await sender.close()
    if error is NotificationFailed:
        assert not isinstance(raised.value, NotificationRejected), "a 5xx is transient"


async def test_an_unreachable_webhook_is_a_transient_failure() -> None:
    sender = WebhookNotificationSender(
        f"http://127.0.0.1:{find_free_port('127.0.0.1')}/hook", timeout_seconds=1
    )
    try:
        with pytest.raises(NotificationFailed, match="unreachable"):
            await sender.send(notification())
    finally:
        await sender.close()
