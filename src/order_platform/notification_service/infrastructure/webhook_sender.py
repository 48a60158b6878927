"""A sender that POSTs the notification as JSON to a webhook, with a hard timeout.

Timeouts, connection errors, 5xx, 408 and 429 are `NotificationFailed` (transient: the consumer
retries with backoff, then dead-letters). Any other non-2xx answer (4xx, an unexpected 3xx)
is `NotificationRejected`: the receiver refused this request, so retrying it unchanged is not
expected to help. The consumer runner has no "dead-letter at once" path for handler errors,
so it still goes through the bounded retries before the dead-letter topic, where the
`dlq-error` header names the status; a 401/403/404 is usually configuration, fixed by the
operator and replayed from the dead-letter topic.
"""

from __future__ import annotations

import asyncio

import httpx

from order_platform.notification_service.application.ports import (
    NotificationFailed,
    NotificationRejected,
)
from order_platform.notification_service.domain import (
    Notification,
    OrderCancelledNotification,
    OrderCreatedNotification,
    OrderShippedNotification,
)

_TRANSIENT_STATUSES = frozenset({408, 425, 429})


class WebhookNotificationSender:
    def __init__(self, url: str, *, timeout_seconds: float) -> None:
        self._url = url
        self._timeout = timeout_seconds
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout_seconds))

    async def send(self, notification: Notification) -> None:
        try:
            # httpx times each phase separately; this bounds the whole exchange.
            async with asyncio.timeout(self._timeout):
                response = await self._client.post(
                    self._url,
                    json=payload(notification),
                    # Lets the receiver drop the rare second delivery (crash before recording).
                    headers={"Idempotency-Key": str(notification.event_id)},
                )
        except TimeoutError:
            raise NotificationFailed(f"webhook timed out after {self._timeout} s") from None
        except httpx.TimeoutException as error:
            raise NotificationFailed(f"webhook timed out: {error!r}") from error
        except httpx.HTTPError as error:
            raise NotificationFailed(f"webhook unreachable: {error!r}") from error
        status = response.status_code
        if 200 <= status < 300:
            return
        if status >= 500 or status in _TRANSIENT_STATUSES:
            raise NotificationFailed(f"webhook answered {status}")
        raise NotificationRejected(f"webhook refused the notification with {status}")

    async def close(self) -> None:
        await self._client.aclose()


def payload(notification: Notification) -> dict[str, str | int]:
    """The webhook body, camelCase like the rest of the platform: the event's type and the
    order's version, the transition's own fields where it has them, money as a decimal string.
    A field the notification lacks (an unknown name, no tracking number) is absent."""
    body: dict[str, str | int] = {
        "eventId": str(notification.event_id),
        "eventType": notification.event_type,
        "orderId": str(notification.order_id),
        "orderVersion": notification.order_version,
    }
    if notification.customer_name is not None:
        body["customerName"] = notification.customer_name
    if isinstance(notification, OrderCreatedNotification):
        body["totalAmount"] = notification.total_text.removeprefix("$")
    if isinstance(notification, OrderShippedNotification) and notification.tracking_number:
        body["trackingNumber"] = notification.tracking_number
    if isinstance(notification, OrderCancelledNotification) and notification.reason:
        body["reason"] = notification.reason
    body["message"] = notification.message
    return body
