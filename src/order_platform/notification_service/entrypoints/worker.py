"""Turns order events delivered by the shared consumer runner into `NotifyInOrder` calls: any
of the four (`contracts.order_events.read_order_event`), an order's one after another in the
batch's order, different orders concurrently.

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
from order_platform.contracts.order_events import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderEventV1,
    OrderShippedV1,
)
from order_platform.notification_service.application.notify_customer import (
    NotificationInFlight,
    NotifyCustomerHandler,
    Outcome,
)
from order_platform.notification_service.application.notify_in_order import NotifyInOrderHandler
from order_platform.notification_service.application.ports import NotificationFailed, Recorded
from order_platform.notification_service.domain import (
    Notification,
    OrderCancelledNotification,
    OrderConfirmedNotification,
    OrderCreatedNotification,
    OrderShippedNotification,
)

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
PARKED = Counter(
    "notifications_parked_total",
    "Order events parked until their order's missing version is notified (a parked event "
    "delivered again counts again)",
)
RELEASED = Counter(
    "notifications_released_total",
    "Parked order events released once their order's missing version was notified",
)
SENT = NOTIFICATIONS.labels("sent")
DEDUPLICATED = NOTIFICATIONS.labels("deduplicated")


def notification_of(event: OrderEventV1) -> Notification:
    """The notification of an event; a transition's name is filled in by `NotifyInOrder`."""
    match event:
        case OrderCreatedV1():
            return OrderCreatedNotification(
                event_id=event.event_id,
                order_id=event.order_id,
                customer_name=event.customer_name,
                total_amount=event.total_amount,
            )
        case OrderConfirmedV1():
            return OrderConfirmedNotification(
                event_id=event.event_id, order_id=event.order_id, order_version=event.order_version
            )
        case OrderShippedV1():
            return OrderShippedNotification(
                event_id=event.event_id,
                order_id=event.order_id,
                order_version=event.order_version,
                tracking_number=event.tracking_number,
            )
        case OrderCancelledV1():
            return OrderCancelledNotification(
                event_id=event.event_id,
                order_id=event.order_id,
                order_version=event.order_version,
                reason=event.reason,
            )


def report_record(event_id: UUID, recorded: Recorded) -> None:
    """`NotifyCustomerHandler.report`: make a second send visible (log line and metric)."""
    if recorded is Recorded.TAKEN_OVER:
        SENT_TWICE.inc()
        log.warning("notification_sent_twice", event_id=str(event_id), recorded=recorded.value)


class ParkingLog:
    """`NotifyInOrderHandler.report`: a log line and a metric per park and per release."""

    def parked(self, notification: Notification, waiting_for: int) -> None:
        PARKED.inc()
        log.info(
            "notification_parked",
            order_id=str(notification.order_id),
            event_id=str(notification.event_id),
            event_type=notification.event_type,
            order_version=notification.order_version,
            waiting_for=waiting_for,
        )

    def released(self, notification: Notification, waited_for: int) -> None:
        RELEASED.inc()
        log.info(
            "notification_released",
            order_id=str(notification.order_id),
            event_id=str(notification.event_id),
            event_type=notification.event_type,
            order_version=notification.order_version,
            waited_for=waited_for,
        )


class NotificationBatchHandler:
    """A `BatchHandler[OrderEventV1]`: an order's events one after another, in the batch's
    order (a later one would otherwise be parked behind one still being sent), and different
    orders concurrently.

    Every order's run goes to its end even when another fails, so no claim is abandoned
    mid-send; then the most telling error is raised for the runner to act on.
    """

    def __init__(self, in_order: NotifyInOrderHandler) -> None:
        self.in_order = in_order

    @property
    def notify(self) -> NotifyCustomerHandler:
        """The per-event protocol, whose unrecorded sends the service records in the background."""
        return self.in_order.notify

    async def __call__(self, deliveries: Sequence[Delivery[OrderEventV1]]) -> None:
        # An event published twice into one batch is sent once; the copy is a duplicate.
        unique: dict[UUID, Delivery[OrderEventV1]] = {}
        for delivery in deliveries:
            unique.setdefault(delivery.event.event_id, delivery)
        by_order: dict[UUID, list[Delivery[OrderEventV1]]] = {}
        for delivery in unique.values():
            by_order.setdefault(delivery.event.order_id, []).append(delivery)
        results = await asyncio.gather(
            *(self._order(order) for order in by_order.values()), return_exceptions=True
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

    async def _order(self, deliveries: list[Delivery[OrderEventV1]]) -> None:
        """One order's events in turn; the first failure ends the order's run: the runner
        retries the batch, and the later ones would only be parked behind the failed one."""
        for delivery in deliveries:
            await self._one(delivery)

    async def _one(self, delivery: Delivery[OrderEventV1]) -> None:
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
                outcome = await self.in_order(notification_of(event))
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
            elif outcome is Outcome.SENT:
                SENT.inc()
