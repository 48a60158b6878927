"""Composition root of the Order Read Service: HTTP API and projection consumer, one process.

`bootstrap(settings)` builds the adapters and the consumer from settings; `wire(generations,
cache)` builds the queries and the projection on whatever ports it is given (fakes in tests);
`open_rebuild_target(settings)` builds the read model's side of `read-model rebuild`, and
`open_parked_events(settings)` its side of `dlq list` (the projection's parked changes).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import structlog
from fastapi import FastAPI
from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from order_platform.building_blocks.auth.bearer_auth import (
    AUTH_OFF,
    Authenticator,
    authenticator_from,
)
from order_platform.building_blocks.http.service_app import Started
from order_platform.building_blocks.kafka.order_events_consumer import order_events_consumer
from order_platform.building_blocks.mongo.client import new_client
from order_platform.building_blocks.runtime.health import Readiness
from order_platform.building_blocks.runtime.task_supervisor import TaskSupervisor
from order_platform.read_service.application.ports import ReadModelGenerations, ViewCache
from order_platform.read_service.application.projection import ProjectOrders
from order_platform.read_service.application.queries import (
    GetOrder,
    ListOrders,
    ProjectionTimes,
)
from order_platform.read_service.entrypoints.api import ReadServiceApi, create_app
from order_platform.read_service.infrastructure.cache import RedisViewCache
from order_platform.read_service.infrastructure.generations import MongoReadModelGenerations
from order_platform.read_service.infrastructure.parked_listing import ReadModelParkedEvents
from order_platform.read_service.infrastructure.projection_consumer import ProjectionHandler
from order_platform.read_service.infrastructure.rebuild_target import (
    ReadModelRebuildTarget,
    hosts_of,
)
from order_platform.read_service.infrastructure.settings import ReadServiceSettings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ReadService:
    api: ReadServiceApi
    project: ProjectOrders


def wire(
    generations: ReadModelGenerations, cache: ViewCache, *, auth: Authenticator = AUTH_OFF
) -> ReadService:
    """The queries and the projection on these ports: MongoDB and Redis, or fakes."""
    return ReadService(
        api=ReadServiceApi(
            get_order=GetOrder(generations, cache),
            list_orders=ListOrders(generations, cache),
            auth=auth,
            projection_times=ProjectionTimes(generations),
        ),
        project=ProjectOrders(generations, cache),
    )


async def bootstrap(settings: ReadServiceSettings) -> Started[ReadServiceApi]:
    """Build the service and start consuming; each adapter's close is registered as it is
    built, so they close in reverse order, and a start that fails half-way closes them."""
    async with contextlib.AsyncExitStack() as stack:
        mongo = new_client(settings.mongodb_uri, timeout_seconds=settings.mongodb_timeout_seconds)
        stack.push_async_callback(mongo.close)
        generations = MongoReadModelGenerations(mongo[settings.mongodb_database])
        redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
            # One immediate retry on a fresh connection survives a Redis restart; a Redis that is
            # really away is then skipped by the cache for a while rather than retried per
            # request.
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
        )
        stack.push_async_callback(redis.aclose)
        cache = RedisViewCache(
            redis,
            order_ttl_seconds=settings.cache_ttl_seconds,
            list_ttl_seconds=settings.list_cache_ttl_seconds,
            retry_after_seconds=settings.redis_retry_after_seconds,
            key_prefix=settings.cache_key_prefix,
        )
        auth = authenticator_from(settings, service="order-read-service")
        stack.push_async_callback(auth.aclose)
        service = wire(generations, cache, auth=auth)
        consumer = order_events_consumer(
            settings,
            group_id=settings.consumer_group,
            handle=ProjectionHandler(service.project),
            max_batch=settings.consumer_max_batch,
        )
        stack.push_async_callback(consumer.dead_letters.close)
        supervisor = TaskSupervisor(give_up_after_seconds=settings.task_give_up_seconds)
        stack.push_async_callback(supervisor.stop, within_seconds=settings.shutdown_timeout_seconds)
        # Readiness: 503 while the projection is not consuming (crashed, restarting, not joined),
        # or the reads would look healthy while going stale.
        consuming = consumer.supervise(supervisor, "projection-consumer")
        auth.supervise(supervisor)

        async def mongodb_answers() -> object:
            return await mongo.admin.command("ping")

        auth_notes, auth_checks = auth.readiness()
        readiness = Readiness(
            {"mongodb": mongodb_answers, "consumer": consuming},
            optional={"redis": cache.ping, **auth_checks},
            notes=auth_notes,
        )
        close_all = stack.pop_all().aclose

    async def stop() -> None:
        await close_all()
        log.info("read_service_stopped")

    log.info("read_service_started", group=settings.consumer_group)
    return Started(service.api, readiness, stop)


def open_rebuild_target(settings: ReadServiceSettings) -> ReadModelRebuildTarget:
    """The read model as `order-platform read-model rebuild` writes it: through the
    projection's own adapter, on the read service's MongoDB; closing it closes the client."""
    mongo = new_client(settings.mongodb_uri, timeout_seconds=settings.mongodb_timeout_seconds)
    return ReadModelRebuildTarget(
        MongoReadModelGenerations(mongo[settings.mongodb_database]),
        where=hosts_of(settings.mongodb_uri),
        close=mongo.close,
    )


def open_parked_events(settings: ReadServiceSettings) -> ReadModelParkedEvents:
    """The projection's parked changes in the live generation, as `dlq list --group` of the
    read service's group shows them; closing it closes the client."""
    mongo = new_client(settings.mongodb_uri, timeout_seconds=settings.mongodb_timeout_seconds)
    return ReadModelParkedEvents(
        MongoReadModelGenerations(mongo[settings.mongodb_database]),
        where=f"{hosts_of(settings.mongodb_uri)}, database {settings.mongodb_database}",
        close=mongo.close,
    )


def create_http_app(settings: ReadServiceSettings) -> FastAPI:
    return create_app(lambda: bootstrap(settings))
