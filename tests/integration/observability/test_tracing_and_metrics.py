"""Observability across the three services, in one process over the embedded servers:
one trace per order, counters that count, lag that shows, a dead letter that is counted."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from order_platform.building_blocks.runtime.tracing import configure_tracing
from order_platform.notification_service.bootstrap import (
    create_http_app as notification_app,
)
from order_platform.notification_service.infrastructure.settings import (
    NotificationServiceSettings,
)
from order_platform.order_service.bootstrap import create_http_app as order_app
from order_platform.order_service.infrastructure.settings import OrderServiceSettings
from order_platform.read_service.bootstrap import create_http_app as read_app
from order_platform.read_service.infrastructure.settings import ReadServiceSettings
from tests.support.asgi import serving
from tests.support.events import produce
from tests.support.waiting import eventually


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    """Spans of everything that runs in this process from now on (the provider is global)."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        configure_tracing("order-platform-tests", processor=SimpleSpanProcessor(exporter))
    return exporter


class Platform:
    def __init__(
        self, order: httpx.AsyncClient, read: httpx.AsyncClient, worker: httpx.AsyncClient
    ):
        self.order, self.read, self.worker = order, read, worker


@asynccontextmanager
async def platform(
    name: str, mongodb_uri: str, kafka_bootstrap: str, redis_url: str
) -> AsyncIterator[Platform]:
    common = {
        "mongodb_uri": mongodb_uri,
        "kafka_bootstrap_servers": kafka_bootstrap,
        "kafka_enable_idempotence": False,
        "order_events_topic": name,
        "redis_url": redis_url,
        "kafka_session_timeout_ms": 2000,
        "kafka_heartbeat_interval_ms": 300,
    }
    apps = [
        order_app(OrderServiceSettings(**common, mongodb_database=f"{name}-w")),
        read_app(
            ReadServiceSettings(
                **common,
                mongodb_database=f"{name}-r",
                consumer_group=f"{name}-reads",
                cache_key_prefix=f"{name}:",
                consumer_max_batch=5,
            )
        ),
        notification_app(
            NotificationServiceSettings(
                **common,
                consumer_group=f"{name}-notifications",
                notification_dedup_key_prefix=name,
            )
        ),
    ]
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(serving(app, host))
            for app, host in zip(apps, ("order", "read", "worker"), strict=True)
        ]
        yield Platform(*clients)


async def test_one_post_yields_one_trace_through_relay_projection_and_notification(
    spans: InMemorySpanExporter,
    mongodb_uri: str,
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
) -> None:
    async with platform(unique_name, mongodb_uri, kafka_bootstrap, redis_url) as system:
        created = await system.order.post(
            "/orders",
            json={"customerName": "Lucas", "totalAmount": "199.90"},
            headers={"X-Correlation-Id": "trace-me"},
        )
        order_id = created.json()["id"]
        post_span = next(
            s
            for s in spans.get_finished_spans()
            if s.name == "POST /orders" and s.kind == trace.SpanKind.SERVER
        )
        trace_id = post_span.context.trace_id

        def names_in_trace() -> list[str]:
            return sorted(
                s.name for s in spans.get_finished_spans() if s.context.trace_id == trace_id
            )

        async def whole_story() -> list[str] | None:
            names = names_in_trace()
            wanted = {f"{unique_name} publish", f"{unique_name} process", "notification send"}
            processes = names.count(f"{unique_name} process")
            return names if wanted <= set(names) and processes == 2 else None

        names = await eventually(whole_story, timeout=20, what="spans of every service")

    assert "POST /orders" in names
    assert any(name.startswith("insert") or "insert" in name for name in names), names  # MongoDB
    publish = _one(spans, trace_id, f"{unique_name} publish")
    assert publish.attributes is not None
    assert publish.attributes["order.id"] == order_id
    processes = [
        s
        for s in spans.get_finished_spans()
        if s.context.trace_id == trace_id and s.name == f"{unique_name} process"
    ]
    assert {s.parent.span_id for s in processes if s.parent} == {publish.context.span_id}
    groups = {s.attributes["messaging.consumer.group.name"] for s in processes if s.attributes}
    assert groups == {f"{unique_name}-reads", f"{unique_name}-notifications"}


async def test_counters_count_orders_and_dead_letters_and_lag_returns_to_zero(
    mongodb_uri: str, kafka_bootstrap: str, redis_url: str, unique_name: str
) -> None:
    async with platform(unique_name, mongodb_uri, kafka_bootstrap, redis_url) as system:
        before = await _metrics(system.order)
        ids = []
        for number in range(5):
            response = await system.order.post(
                "/orders", json={"customerName": f"C{number}", "totalAmount": 1}
            )
            ids.append(response.json()["id"])
        await system.order.post("/orders", json={"customerName": "", "totalAmount": 1})

        after = await eventually(
            lambda: _published_at_least(system.order, before, 5), what="5 events published"
        )
        assert (
            _value(after, 'http_requests_total{method="POST",route="/orders",status="201"}')
            - _value(before, 'http_requests_total{method="POST",route="/orders",status="201"}')
            == 5
        )
        assert _value(after, 'http_requests_total{method="POST",route="/orders",status="422"}') >= 1
        for order_id in ids:
            await eventually(lambda oid=order_id: _readable(system.read, oid), what="projected")

        group = f"{unique_name}-reads"
        read_metrics = await _metrics(system.read)
        assert (
            _value(read_metrics, f'consumer_events_total{{group="{group}",outcome="applied"}}') == 5
        )

        # The lag reporter's loop reads the group's offsets on its own beat: its first series
        # may come after the projection (CI once read none yet).
        async def lag_at_zero() -> list[float] | None:
            lag = _labelled(await _metrics(system.read), "consumer_lag", f'group="{group}"')
            return lag if lag and all(value == 0 for value in lag) else None

        lag = await eventually(
            lag_at_zero, timeout=20, what="a lag series per partition, each at zero"
        )
        assert all(value == 0 for value in lag), lag

        await produce(kafka_bootstrap, unique_name, [b"poison"], key=b"p")

        async def dead_lettered() -> bool:
            metrics = await _metrics(system.read)
            return (
                _value(metrics, f'consumer_events_total{{group="{group}",outcome="dead_lettered"}}')
                == 1
            )

        await eventually(dead_lettered, what="the poison event counted as dead-lettered")

        await system.read.get(f"/orders/{ids[0]}")
        cache = await _metrics(system.read)
        assert _value(cache, 'cache_lookups_total{kind="order",result="hit"}') >= 1


async def _metrics(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


def _value(metrics: str, series: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _labelled(metrics: str, name: str, label: str) -> list[float]:
    pattern = re.compile(rf"^{name}{{[^}}]*{re.escape(label)}[^}}]*}} (\S+)$")
    return [float(m[1]) for line in metrics.splitlines() if (m := pattern.match(line))]


async def _published_at_least(client: httpx.AsyncClient, before: str, count: int) -> str | None:
    metrics = await _metrics(client)
    published = _value(metrics, "outbox_published_total") - _value(before, "outbox_published_total")
    return metrics if published >= count else None


async def _readable(client: httpx.AsyncClient, order_id: str) -> bool:
    return (await client.get(f"/orders/{order_id}")).status_code == 200


def _one(spans: InMemorySpanExporter, trace_id: int, name: str) -> ReadableSpan:
    (span,) = [
        s for s in spans.get_finished_spans() if s.context.trace_id == trace_id and s.name == name
    ]
    return span
