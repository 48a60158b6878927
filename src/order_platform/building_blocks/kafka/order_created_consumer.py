"""A consumer of the order events, wired the same way in every consuming service: every
event of an order's life (`order_events_consumer`), or `OrderCreated` v1 alone
(`order_created_consumer`, for a service that knows no other)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, Unpack

from order_platform.building_blocks.kafka.consumer import (
    BatchHandler,
    ConsumerConfig,
    ConsumerRunner,
    RetryOptions,
)
from order_platform.building_blocks.kafka.dead_letters import DeadLetterPublisher
from order_platform.building_blocks.runtime.health import Check
from order_platform.building_blocks.runtime.settings import ServiceSettings
from order_platform.building_blocks.runtime.task_supervisor import TaskSupervisor
from order_platform.contracts import InvalidEvent, OrderCreatedV1
from order_platform.contracts.order_events import OrderEventV1, read_order_event


class _Event(Protocol):
    @property
    def occurred_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class OrderCreatedConsumer[E: _Event]:
    runner: ConsumerRunner[E]
    dead_letters: DeadLetterPublisher  # to close after the runner stopped

    def supervise(self, supervisor: TaskSupervisor, name: str) -> Check:
        """Start the consumer loop (`name`) and its lag reporter (`name-lag`) under
        `supervisor`; the readiness check that fails while the loop is not consuming."""
        runner = self.runner
        supervisor.start(
            name, runner.run, request_stop=runner.request_stop, ready=runner.is_consuming
        )
        supervisor.start(f"{name}-lag", runner.report_lag, request_stop=runner.request_stop)
        return supervisor.check(name)


def order_events_consumer(
    settings: ServiceSettings,
    *,
    group_id: str,
    handle: BatchHandler[OrderEventV1],
    max_batch: int,
    **retry: Unpack[RetryOptions],
) -> OrderCreatedConsumer[OrderEventV1]:
    return _consumer(settings, group_id, read_order_event, handle, max_batch, **retry)


def order_created_consumer(
    settings: ServiceSettings,
    *,
    group_id: str,
    handle: BatchHandler[OrderCreatedV1],
    max_batch: int,
    **retry: Unpack[RetryOptions],
) -> OrderCreatedConsumer[OrderCreatedV1]:
    return _consumer(settings, group_id, OrderCreatedV1.from_json, handle, max_batch, **retry)


def _consumer[E: _Event](
    settings: ServiceSettings,
    group_id: str,
    decode: Callable[[bytes], E],
    handle: BatchHandler[E],
    max_batch: int,
    **retry: Unpack[RetryOptions],
) -> OrderCreatedConsumer[E]:
    dead_letters = DeadLetterPublisher(
        settings.kafka_bootstrap_servers,
        group_id,
        enable_idempotence=settings.kafka_enable_idempotence,
    )
    config = ConsumerConfig(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        topic=settings.order_events_topic,
        group_id=group_id,
        max_batch=max_batch,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
        lag_interval_seconds=settings.consumer_lag_interval_seconds,
        **retry,
    )
    runner = ConsumerRunner(
        config,
        decode=decode,
        handle=handle,
        dead_letters=dead_letters,
        invalid=InvalidEvent,
        occurred_at=lambda event: event.occurred_at,
    )
    return OrderCreatedConsumer(runner, dead_letters)
