"""Turns `OrderCreated` deliveries from the shared consumer runner into `NotifyCustomer` calls.

The runner waits on any `Unavailable` (a ledger that is away, a notification another replica
is sending right now): never dead-letter, never commit past it; a sender failure counts
towards the bounded retries, then the dead-letter topic.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import UUID

import structlog
from opentelemetry.trace import SpanKind
from prometheus_client import Counter

from order_platform.building_blocks.kafka.consumer import Delivery
from order_platform.building_blocks.runtime.tracing import tracer
from order_platform.contracts import OrderCreatedV1
from order_platform.contracts.errors import Unavailable
from order_platform.notification_service.application.notify_customer import (
    NotificationInFlight,
    NotifyCustomerHandler,
    Outcome,
)
from order_platform.notification_service.application.ports import NotificationFailed, Recorded
from order_platform.notification_service.domain import Notification

log = structlog.get_logger(__name__)

NOTIFICATIONS = Counter(
    "notifications_total",
    "Notifications by outcome: sent, or deduplicated (a redelivered event, nothing sent)",
    ["outcome"],
)
NOTIFICATION_FAILURES = Counter(
    "notification_failures_total",
    "Send attempts that failed (retried, then dead-lettered), by error",
    ["error"],
)
SENT_TWICE = Counter(
    "notification_sent_twice_total",
    "Sends whose late `sent` record found that another replica had taken the event over "
    "(the ledger was unreachable from the sender for longer than the claim): sent twice",
)
SENT = NOTIFICATIONS.labels("sent")
DEDUPLICATED = NOTIFICATIONS.labels("deduplicated")


def notification_of(event: OrderCreatedV1) -> Notification:
    return Notification(
        event_id=event.event_id,
        order_id=event.order_id,
        customer_name=event.customer_name,
        total_amount=event.total_amount,
    )


def report_record(event_id: UUID, recorded: Recorded) -> None:
    """`NotifyCustomerHandler.report`: make a second send visible (log line and metric)."""
    if recorded is Recorded.TAKEN_OVER:
        SENT_TWICE.inc()
        log.warning("notification_sent_twice", event_id=str(event_id), recorded=recorded.value)


class NotificationBatchHandler:
    """A `BatchHandler[OrderCreatedV1]`: sends the batch's notifications concurrently.

    Every send of the batch runs to its end even when one fails, so no claim is abandoned
    mid-send; then the most telling error is raised for the runner to act on.
    """

    def __init__(self, notify: NotifyCustomerHandler) -> None:
        self.notify = notify

    async def __call__(self, deliveries: Sequence[Delivery[OrderCreatedV1]]) -> None:
        # An event published twice into one batch is sent once; the copy is a duplicate.
        unique: dict[UUID, Delivery[OrderCreatedV1]] = {}
        for delivery in deliveries:
            unique.setdefault(delivery.event.event_id, delivery)
        results = await asyncio.gather(
            *(self._one(delivery) for delivery in unique.values()), return_exceptions=True
        )
        errors = [result for result in results if isinstance(result, BaseException)]
        if not errors:
            DEDUPLICATED.inc(len(deliveries) - len(unique))
            return
        for error in errors:
            if not isinstance(error, Exception):
                raise error  # cancellation: shutdown ran out of time
        # A failing send counts towards the bounded retries (and the dead-letter topic); only
        # when nothing failed on its own is the batch waited for without limit.
        failed = next((e for e in errors if not isinstance(e, Unavailable)), None)
        raise errors[0] if failed is None else failed

    async def _one(self, delivery: Delivery[OrderCreatedV1]) -> None:
        event = delivery.event
        context = {
            "order_id": str(event.order_id),
            "event_id": str(event.event_id),
            **delivery.log_context,
        }
        with (
            structlog.contextvars.bound_contextvars(**context),
            # Current in this event's task, so the ledger's Redis spans and the webhook's
            # request nest under it, in the order's trace.
            tracer.start_as_current_span(
                "notification send", context=delivery.trace_context, kind=SpanKind.INTERNAL
            ),
        ):
            try:
                outcome = await self.notify(notification_of(event))
            except NotificationFailed as error:
                NOTIFICATION_FAILURES.labels(type(error).__name__).inc()
                log.warning("notification_failed", error=str(error))
                raise
            except NotificationInFlight:
                log.info("notification_in_flight_elsewhere")
                raise
            if outcome is Outcome.DUPLICATE:
                DEDUPLICATED.inc()
                log.info("notification_duplicate_skipped")
            else:
                SENT.inc()
