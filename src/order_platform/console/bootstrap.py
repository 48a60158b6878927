"""Composition root of the operator console: the only module that knows the concrete classes."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from fastapi import FastAPI

from order_platform.building_blocks.http.service_app import Started
from order_platform.building_blocks.runtime.health import Readiness
from order_platform.building_blocks.runtime.task_supervisor import TaskSupervisor
from order_platform.console.application.attention import Attention
from order_platform.console.application.dead_letters import DeadLetterMonitor
from order_platform.console.application.orders import OrderTracker
from order_platform.console.application.pipeline import PipelineMonitor, Targets
from order_platform.console.entrypoints.web import ConsoleApi, create_app
from order_platform.console.infrastructure.dead_letter_desk import KafkaDeadLetterDesk
from order_platform.console.infrastructure.http_services import HttpServices
from order_platform.console.infrastructure.settings import ConsoleSettings
from order_platform.console.infrastructure.topic_window import KafkaOrderStream

log = structlog.get_logger(__name__)


async def bootstrap(settings: ConsoleSettings) -> Started[ConsoleApi]:
    """Build the console and start watching; each adapter's close is registered as it is
    built, so they close in reverse order, and a start that fails half-way closes them."""
    async with contextlib.AsyncExitStack() as stack:
        urls = ConsoleSettings.urls
        reads, workers = urls(settings.read_service_url), urls(settings.notification_service_url)
        token = settings.console_access_token
        services = HttpServices(
            read_url=reads[0],
            notification_url=workers[0],
            timeout_seconds=settings.console_http_timeout_seconds,
            access_token=token.get_secret_value() if token is not None else None,
        )
        stack.push_async_callback(services.aclose)
        targets = Targets(
            order=urls(settings.order_service_url),
            read=reads,
            notification=workers,
            topic=settings.order_events_topic,
            read_group=settings.read_consumer_group,
            notification_group=settings.notification_consumer_group,
        )
        pipeline = PipelineMonitor(services, targets)
        stream = KafkaOrderStream(
            settings.kafka_bootstrap_servers,
            settings.order_events_topic,
            kept=settings.console_orders_kept,
        )
        dead_letters = DeadLetterMonitor(
            KafkaDeadLetterDesk(
                settings.kafka_bootstrap_servers,
                topic=settings.order_events_topic,
                enable_idempotence=settings.kafka_enable_idempotence,
                timeout=10.0,
            ),
            projection_group=settings.read_consumer_group,
            notification_group=settings.notification_consumer_group,
        )
        orders = OrderTracker(stream, services, dead_letters)
        stop = asyncio.Event()
        attention = Attention(
            idle_interval_seconds=settings.console_idle_interval_seconds,
            watched_for_seconds=settings.console_watched_seconds,
        )
        supervisor = TaskSupervisor(give_up_after_seconds=settings.task_give_up_seconds)
        stack.push_async_callback(supervisor.stop, within_seconds=settings.shutdown_timeout_seconds)
        supervisor.start(
            "console-scrapes",
            lambda: pipeline.run(settings.console_scrape_interval_seconds, stop, attention),
            request_stop=stop.set,
        )
        supervisor.start(
            "console-orders",
            lambda: orders.run(settings.console_refresh_interval_seconds, stop, attention),
            request_stop=stop.set,
        )
        supervisor.start(
            "console-dead-letters",
            lambda: dead_letters.run(
                settings.console_dead_letters_interval_seconds, stop, attention
            ),
            request_stop=stop.set,
        )
        supervisor.start("console-topic", stream.run)
        close_all = stack.pop_all().aclose

    async def stop_all() -> None:
        await close_all()
        log.info("console_stopped")

    async def topic_read() -> None:
        if stream.status is not None:
            raise ConnectionError(stream.status)

    api = ConsoleApi(
        pipeline=pipeline,
        orders=orders,
        dead_letters=dead_letters,
        stream=stream,
        attention=attention,
        refresh_ms=int(settings.console_refresh_interval_seconds * 1000),
    )
    log.info("console_started", services=pipeline.urls, topic=settings.order_events_topic)
    # Ready while it serves; what it cannot see is shown on the page (and reported here).
    readiness = Readiness(
        {}, optional={"topic": topic_read, "tasks": supervisor.check("console-topic")}
    )
    return Started(api, readiness, stop_all)


def create_http_app(settings: ConsoleSettings) -> FastAPI:
    return create_app(lambda: bootstrap(settings), settings.allowed_host_list)
