"""Composition root of the Order Service: the only module that knows the concrete classes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from datetime import timedelta

import structlog
from fastapi import FastAPI
from prometheus_client import Gauge

from order_platform.building_blocks.correlation import current_correlation_id
from order_platform.building_blocks.health import Readiness
from order_platform.building_blocks.mongo import new_client
from order_platform.building_blocks.service_app import Started
from order_platform.building_blocks.tracing import current_traceparent
from order_platform.order_service.application.create_order import CreateOrderHandler
from order_platform.order_service.domain import Order
from order_platform.order_service.entrypoints.api import OrderServiceApi, create_app
from order_platform.order_service.infrastructure.idempotency_keys import MongoIdempotencyKeys
from order_platform.order_service.infrastructure.kafka_publisher import KafkaPublisher
from order_platform.order_service.infrastructure.outbox import MongoOutbox, OutboxEntry
from order_platform.order_service.infrastructure.relay import OutboxRelay
from order_platform.order_service.infrastructure.relay_registry import RelayRegistry
from order_platform.order_service.infrastructure.server_clock import ServerClock
from order_platform.order_service.infrastructure.settings import OrderServiceSettings
from order_platform.order_service.infrastructure.write_model import MongoUnitOfWork

log = structlog.get_logger(__name__)

SHUTDOWN_DRAIN_SECONDS = 3.0

_outbox_held = Gauge(
    "outbox_pending_entries", "Outbox entries this relay holds, not yet acknowledged by Kafka"
)
_outbox_oldest = Gauge(
    "outbox_oldest_pending_age_seconds", "Age of the oldest outbox entry this relay holds"
)


async def bootstrap(settings: OrderServiceSettings) -> Started[OrderServiceApi]:
    """Build the service and start its relay; return the API and the shutdown callable."""
    client = new_client(settings.mongodb_uri, timeout_seconds=settings.mongodb_timeout_seconds)
    database = client[settings.mongodb_database]
    orders = database["orders"]
    # Every replica takes its time from the database server, so clock skew between replicas
    # changes nothing in leases and heartbeats (and `createdAt` orders across replicas).
    clock = ServerClock(lambda: client.admin.command("hello"))
    lease = timedelta(seconds=settings.outbox_lease_seconds)
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    outbox = MongoOutbox(orders, owner=owner, lease=lease)
    idempotency_keys = MongoIdempotencyKeys(
        database["idempotency_keys"],
        keep_for=timedelta(hours=settings.idempotency_key_ttl_hours),
    )
    publisher = KafkaPublisher(
        settings.kafka_bootstrap_servers,
        settings.order_created_topic,
        enable_idempotence=settings.kafka_enable_idempotence,
    )
    relay = OutboxRelay(
        outbox,
        RelayRegistry(database["outbox_relays"], owner=owner, lease=lease),
        publisher,
        clock,
        batch_size=settings.outbox_batch_size,
        max_in_memory=settings.outbox_max_in_memory,
        sweep_interval=timedelta(seconds=settings.outbox_sweep_interval_seconds),
    )
    _outbox_held.set_function(lambda: relay.pending)
    _outbox_oldest.set_function(relay.oldest_pending_age)

    def outbox_entry(order: Order) -> OutboxEntry:
        # Called inside the request: its correlation id and trace travel with the event.
        (event,) = order.events
        return OutboxEntry.for_event(
            event,
            owner=owner,
            lease_until=clock.now() + lease,
            correlation_id=current_correlation_id.get(),
            traceparent=current_traceparent(),
        )

    create_order = CreateOrderHandler(
        new_unit_of_work=lambda: MongoUnitOfWork(
            orders,
            new_outbox_entry=outbox_entry,
            on_committed=relay.notify,
            on_outcome_unknown=relay.expect,
        ),
        idempotency_keys=idempotency_keys,
        clock=clock,
        new_id=uuid.uuid4,
    )

    async def prepare_storage() -> None:
        # Retried in the background: the service starts (and answers 503) while MongoDB is away.
        delay = 0.5
        while True:
            try:
                await outbox.ensure_indexes()
                await idempotency_keys.ensure_indexes()
            except Exception as error:
                log.warning("indexes_not_created_yet", error=str(error), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            else:
                return

    async def relay_on_server_time() -> None:
        # Sweeping by a skewed clock could claim other replicas' fresh entries: wait for it.
        await clock.wait_synced()
        await relay.run()

    with contextlib.suppress(Exception):  # MongoDB away at start: synced in the background
        await asyncio.wait_for(clock.sync(), 1.0)

    background = [
        asyncio.create_task(prepare_storage(), name="prepare-storage"),
        asyncio.create_task(clock.keep_synced(), name="server-clock"),
        asyncio.create_task(relay_on_server_time(), name="outbox-relay"),
    ]

    async def ping() -> object:
        return await client.admin.command("ping")

    async def stop() -> None:
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await relay.drain(within_seconds=SHUTDOWN_DRAIN_SECONDS)
        await publisher.close()
        await client.close()
        log.info("order_service_stopped", published=relay.published, held=relay.pending)

    api = OrderServiceApi(
        create_order=create_order,
        location_base_url=settings.order_location_base_url.rstrip("/"),
    )
    log.info("order_service_started", relay_owner=owner, topic=settings.order_created_topic)
    return Started(api, Readiness({"mongodb": ping}), stop)


def create_http_app(settings: OrderServiceSettings | None = None) -> FastAPI:
    """The ASGI app, built lazily: nothing connects until the server runs its lifespan."""
    resolved = settings or OrderServiceSettings()
    return create_app(lambda: bootstrap(resolved))
