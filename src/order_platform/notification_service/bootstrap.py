"""Composition root of the Notification Service: the only module that knows the concrete classes.

`bootstrap(settings)` builds the adapters and the consumer from settings; `wire(sender,
ledger, orders)` builds the use case and its batch handler on whatever ports it is given;
`open_parked_events(settings)` builds the notifier's side of `dlq list` (its parked events).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import urlsplit

import structlog
from fastapi import FastAPI

from order_platform.building_blocks.http.service_app import Started
from order_platform.building_blocks.kafka.order_events_consumer import order_events_consumer
from order_platform.building_blocks.runtime.health import Readiness
from order_platform.building_blocks.runtime.task_supervisor import TaskSupervisor
from order_platform.notification_service.application.notify_customer import (
    NotifyCustomerHandler,
)
from order_platform.notification_service.application.notify_in_order import NotifyInOrderHandler
from order_platform.notification_service.application.ports import (
    LedgerUnavailable,
    NotificationLedger,
    NotificationSender,
    OrderProgressLedger,
)
from order_platform.notification_service.entrypoints.health_api import create_app
from order_platform.notification_service.entrypoints.internal_api import NotificationServiceApi
from order_platform.notification_service.entrypoints.worker import (
    NotificationBatchHandler,
    ParkingLog,
    report_record,
)
from order_platform.notification_service.infrastructure.log_sender import LogNotificationSender
from order_platform.notification_service.infrastructure.parked_listing import (
    NotifierParkedEvents,
)
from order_platform.notification_service.infrastructure.redis_ledger import (
    RedisNotificationLedger,
    new_redis_client,
)
from order_platform.notification_service.infrastructure.redis_order_progress import (
    RedisOrderProgress,
)
from order_platform.notification_service.infrastructure.settings import (
    NotificationServiceSettings,
)
from order_platform.notification_service.infrastructure.webhook_sender import (
    WebhookNotificationSender,
)

log = structlog.get_logger(__name__)


def wire(
    sender: NotificationSender, ledger: NotificationLedger, orders: OrderProgressLedger
) -> NotificationBatchHandler:
    """The use case on these ports (a sender, the Redis ledger and the orders' progress in
    Redis, or fakes)."""
    notify = NotifyCustomerHandler(sender=sender, ledger=ledger, report=report_record)
    return NotificationBatchHandler(
        NotifyInOrderHandler(notify=notify, orders=orders, report=ParkingLog())
    )


def new_sender(
    settings: NotificationServiceSettings,
) -> tuple[NotificationSender, Callable[[], Awaitable[None]] | None]:
    """The configured sender and how to close it."""
    if settings.notification_sender == "webhook":
        webhook = WebhookNotificationSender(
            settings.notification_webhook_url,
            timeout_seconds=settings.notification_webhook_timeout_seconds,
        )
        return webhook, webhook.close
    return LogNotificationSender(), None


async def bootstrap(
    settings: NotificationServiceSettings,
) -> Started[NotificationServiceApi]:
    """Build the worker and start consuming; return its readiness and the shutdown callable.
    Each adapter's close is registered as it is built, so they close in reverse order, and a
    start that fails half-way closes them."""
    async with contextlib.AsyncExitStack() as stack:
        redis = new_redis_client(settings.redis_url, timeout_seconds=settings.redis_timeout_seconds)
        stack.push_async_callback(redis.aclose)
        ledger = RedisNotificationLedger(
            redis,
            key_prefix=settings.notification_dedup_key_prefix,
            claim_for=timedelta(seconds=settings.notification_claim_seconds),
            keep_sent_for=timedelta(hours=settings.notification_dedup_ttl_hours),
        )
        sender, close_sender = new_sender(settings)
        if close_sender is not None:
            stack.push_async_callback(close_sender)
        orders = RedisOrderProgress(
            redis,
            key_prefix=settings.notification_dedup_key_prefix,
            keep_for=timedelta(hours=settings.notification_dedup_ttl_hours),
        )
        handle = wire(sender, ledger, orders)
        consumer = order_events_consumer(
            settings,
            group_id=settings.consumer_group,
            handle=handle,
            max_batch=settings.consumer_max_batch,
            max_attempts=settings.notification_max_attempts,
            backoff_base_seconds=settings.notification_backoff_base_seconds,
            backoff_max_seconds=settings.notification_backoff_max_seconds,
        )
        stack.push_async_callback(consumer.dead_letters.close)

        async def record_unrecorded_once_more() -> None:
            with contextlib.suppress(LedgerUnavailable):
                await handle.notify.record_unrecorded()  # a last try before the claims expire

        stack.push_async_callback(record_unrecorded_once_more)
        supervisor = TaskSupervisor(give_up_after_seconds=settings.task_give_up_seconds)
        # Stop taking batches first; the one in flight is finished and committed by the runner.
        stack.push_async_callback(supervisor.stop, within_seconds=settings.shutdown_timeout_seconds)
        consuming = consumer.supervise(supervisor, "notification-consumer")
        # Sent but not yet recorded (Redis stalled): recorded as soon as Redis answers, whoever
        # owns the partition by then, so another replica never sends them again.
        supervisor.start("notification-records", handle.notify.retry_unrecorded_forever)
        close_all = stack.pop_all().aclose

    async def stop() -> None:
        await close_all()
        log.info("notification_service_stopped")

    log.info(
        "notification_service_started",
        group=settings.consumer_group,
        topic=settings.order_events_topic,
        sender=settings.notification_sender,
    )
    return Started(
        NotificationServiceApi(sent_times=ledger, orders=orders),
        Readiness({"redis": ledger.ping, "consumer": consuming}),
        stop,
    )


def open_parked_events(settings: NotificationServiceSettings) -> NotifierParkedEvents:
    """The events parked in the orders' progress records, as `dlq list --group` of the
    notifier's group shows them; closing it closes the client."""
    redis = new_redis_client(settings.redis_url, timeout_seconds=settings.redis_timeout_seconds)
    orders = RedisOrderProgress(
        redis,
        key_prefix=settings.notification_dedup_key_prefix,
        keep_for=timedelta(hours=settings.notification_dedup_ttl_hours),
    )
    url = urlsplit(settings.redis_url)
    where = f"{url.hostname or 'localhost'}:{url.port or 6379}"
    return NotifierParkedEvents(orders, where=where, close=redis.aclose)


def create_http_app(settings: NotificationServiceSettings) -> FastAPI:
    """The ASGI app, built lazily: nothing connects until the server runs its lifespan."""
    return create_app(lambda: bootstrap(settings))
