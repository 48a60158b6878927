"""A consumer of every order event (`OrderCreated`, `OrderConfirmed`, `OrderShipped`,
`OrderCancelled`), wired the same way in every consuming service."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Unpack

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
from order_platform.contracts import InvalidEvent
from order_platform.contracts.order_events import OrderEventV1, read_order_event


@dataclass(frozen=True, slots=True)
class OrderEventsConsumer:
    runner: ConsumerRunner[OrderEventV1]
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
) -> OrderEventsConsumer:
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
        decode=read_order_event,
        handle=handle,
        dead_letters=dead_letters,
        invalid=InvalidEvent,
        occurred_at=lambda event: event.occurred_at,
    )
    return OrderEventsConsumer(runner, dead_letters)
