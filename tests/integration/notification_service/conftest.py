"""The Notification Service in-process (its real lifespan) over the embedded servers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest

from order_platform.notification_service.bootstrap import create_http_app
from order_platform.notification_service.infrastructure.settings import (
    NotificationServiceSettings,
)
from tests.integration.notification_service.webhook_receiver import WebhookReceiver
from tests.support.asgi import serving


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def settings(
    kafka_bootstrap: str, redis_url: str, unique_name: str, receiver: WebhookReceiver
) -> NotificationServiceSettings:
    return NotificationServiceSettings(
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_enable_idempotence=False,
        order_events_topic=unique_name,
        redis_url=redis_url,
        kafka_session_timeout_ms=2000,
        kafka_heartbeat_interval_ms=300,
        consumer_group=f"{unique_name}-notification-service",
        notification_dedup_key_prefix=unique_name,
        notification_sender="webhook",
        notification_webhook_url=receiver.url,
        notification_webhook_timeout_seconds=0.3,
        notification_claim_seconds=1.0,
        notification_max_attempts=3,
        notification_backoff_base_seconds=0.01,
        notification_backoff_max_seconds=0.05,
        redis_timeout_seconds=0.5,
        shutdown_timeout_seconds=5,
    )


@asynccontextmanager
async def running(settings: NotificationServiceSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The worker consuming, and a client for its health and metrics port."""
    async with serving(create_http_app(settings), "worker") as client:
        yield client
