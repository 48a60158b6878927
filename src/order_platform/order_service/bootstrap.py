"""Composition root of the Order Service: the only module that knows the concrete classes.

`bootstrap(settings)` builds the adapters and the background work from settings; `wire(ports)`
builds the application on whatever ports it is given, so tests run the HTTP layer on fakes.
"""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog
from fastapi import FastAPI

from order_platform.building_blocks.auth.bearer_auth import (
    AUTH_OFF,
    Authenticator,
    authenticator_from,
)
from order_platform.building_blocks.auth.rate_limit import NO_RATE_LIMIT, RateLimit, RedisRateLimit
from order_platform.building_blocks.http.service_app import Started
from order_platform.building_blocks.mongo.client import new_client, prepare_when_reachable
from order_platform.building_blocks.runtime.health import Readiness
from order_platform.building_blocks.runtime.task_supervisor import TaskSupervisor
from order_platform.order_service.application.change_order import ChangeOrderHandler
from order_platform.order_service.application.create_order import CreateOrderHandler
from order_platform.order_service.application.get_order import GetOrderHandler
from order_platform.order_service.application.ports import (
    Clock,
    IdempotencyKeys,
    IdFactory,
    StoredOrders,
    UnitOfWork,
)
from order_platform.order_service.entrypoints.api import OrderServiceApi, create_app
from order_platform.order_service.infrastructure.idempotency_keys import MongoIdempotencyKeys
from order_platform.order_service.infrastructure.settings import OrderServiceSettings
from order_platform.order_service.infrastructure.write_model import (
    MongoStoredOrders,
    MongoUnitOfWork,
)
from order_platform.order_service.outbox.kafka_publisher import KafkaPublisher
from order_platform.order_service.outbox.relay import OutboxRelay
from order_platform.order_service.outbox.relay_registry import RelayRegistry
from order_platform.order_service.outbox.server_clock import ServerClock
from order_platform.order_service.outbox.store import MongoOutbox

log = structlog.get_logger(__name__)

# Of the shutdown budget, what the relay gets at the end to publish what it still holds; the
# background tasks stop first, in the rest.
SHUTDOWN_DRAIN_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class OrderServicePorts:
    new_unit_of_work: Callable[[], UnitOfWork]
    idempotency_keys: IdempotencyKeys
    clock: Clock
    new_id: IdFactory = uuid.uuid4
    stored_orders: StoredOrders | None = None


def wire(
    ports: OrderServicePorts,
    *,
    location_base_url: str = "",
    auth: Authenticator = AUTH_OFF,
    rate_limit: RateLimit | None = None,
) -> OrderServiceApi:
    """The application on `ports`: MongoDB adapters from `bootstrap`, fakes in tests."""
    return OrderServiceApi(
        create_order=CreateOrderHandler(
            new_unit_of_work=ports.new_unit_of_work,
            idempotency_keys=ports.idempotency_keys,
            clock=ports.clock,
            new_id=ports.new_id,
        ),
        change_order=ChangeOrderHandler(
            new_unit_of_work=ports.new_unit_of_work,
            idempotency_keys=ports.idempotency_keys,
            clock=ports.clock,
            new_id=ports.new_id,
        ),
        get_order=GetOrderHandler(new_unit_of_work=ports.new_unit_of_work),
        location_base_url=location_base_url.rstrip("/"),
        stored_orders=ports.stored_orders,
        auth=auth,
        rate_limit=rate_limit or NO_RATE_LIMIT,
    )


async def bootstrap(settings: OrderServiceSettings) -> Started[OrderServiceApi]:
    """Build the service and start its background work; return the API and how to stop.

    Each adapter's close is registered as it is built, so they close in reverse order, and
    a start that fails half-way closes what it had built."""
    async with contextlib.AsyncExitStack() as stack:
        client = new_client(settings.mongodb_uri, timeout_seconds=settings.mongodb_timeout_seconds)
        stack.push_async_callback(client.close)
        database = client[settings.mongodb_database]
        # Leases, heartbeats and `createdAt` on the database server's clock: replicas whose own
        # clocks disagree still agree on them.
        clock = ServerClock(lambda: client.admin.command("hello"))
        lease = timedelta(seconds=settings.outbox_lease_seconds)
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        outbox = MongoOutbox(database["orders"], owner=owner, lease=lease, clock=clock)
        idempotency_keys = MongoIdempotencyKeys(
            database["idempotency_keys"],
            keep_for=timedelta(hours=settings.idempotency_key_ttl_hours),
        )
        publisher = KafkaPublisher(
            settings.kafka_bootstrap_servers,
            settings.order_events_topic,
            enable_idempotence=settings.kafka_enable_idempotence,
        )
        stack.push_async_callback(publisher.close)
        relay = OutboxRelay(
            outbox,
            RelayRegistry(database["outbox_relays"], owner=owner, lease=lease),
            publisher,
            clock,
            batch_size=settings.outbox_batch_size,
            max_in_memory=settings.outbox_max_in_memory,
            sweep_interval=timedelta(seconds=settings.outbox_sweep_interval_seconds),
        )
        relay.export_metrics()
        auth = authenticator_from(settings, service="order-service")
        stack.push_async_callback(auth.aclose)
        rate_limit: RateLimit = NO_RATE_LIMIT
        if settings.rate_limit_orders_per_minute is not None:
            rate_limit = RedisRateLimit(
                settings.redis_url,
                per_minute=settings.rate_limit_orders_per_minute,
                policy="orders-per-minute",
                timeout_seconds=settings.rate_limit_timeout_seconds,
            )
        stack.push_async_callback(rate_limit.close)
        api = wire(
            OrderServicePorts(
                new_unit_of_work=lambda: MongoUnitOfWork(database["orders"], outbox=relay),
                idempotency_keys=idempotency_keys,
                clock=clock,
                stored_orders=MongoStoredOrders(
                    database["orders"], timeout_seconds=settings.mongodb_timeout_seconds
                ),
            ),
            location_base_url=settings.order_location_base_url,
            auth=auth,
            rate_limit=rate_limit,
        )

        await clock.sync_soon(within_seconds=1.0)
        # On stop the background tasks end first, then the relay publishes what it still holds
        # (the rest is safe in MongoDB for the next relay), then the adapters above close.
        drain = min(SHUTDOWN_DRAIN_SECONDS, settings.shutdown_timeout_seconds / 2)
        stack.push_async_callback(relay.drain, within_seconds=drain)
        supervisor = TaskSupervisor(give_up_after_seconds=settings.task_give_up_seconds)
        stack.push_async_callback(
            supervisor.stop, within_seconds=settings.shutdown_timeout_seconds - drain
        )
        supervisor.start(
            "prepare-storage",
            lambda: prepare_when_reachable(outbox.ensure_indexes, idempotency_keys.ensure_indexes),
            once=True,
        )
        supervisor.start("server-clock", clock.keep_synced)
        supervisor.start(
            "outbox-relay", lambda: clock.once_synced(relay.run), request_stop=relay.request_stop
        )
        auth.supervise(supervisor)

        async def mongodb_answers() -> object:
            return await client.admin.command("ping")

        async def relay_registered() -> object:
            if not relay.registered:
                raise RuntimeError("the outbox relay has not recorded its first heartbeat yet")
            return "registered"

        # Ready while MongoDB answers, once the relay has recorded its first heartbeat (it runs
        # and reaches MongoDB): an order accepted while the relay is down or Kafka away is safe in
        # the outbox, and a relay that cannot recover makes the process exit (supervisor).
        auth_notes, auth_checks = auth.readiness()
        readiness = Readiness(
            {"mongodb": mongodb_answers, "outbox-relay": relay_registered},
            optional=auth_checks,
            notes=auth_notes,
        )
        close_all = stack.pop_all().aclose

    async def stop() -> None:
        await close_all()
        log.info("order_service_stopped", published=relay.published, held=relay.pending)

    log.info("order_service_started", relay_owner=owner, topic=settings.order_events_topic)
    return Started(api, readiness, stop)


def create_http_app(settings: OrderServiceSettings) -> FastAPI:
    """The ASGI app, built lazily: nothing connects until the server runs its lifespan."""
    return create_app(lambda: bootstrap(settings))
