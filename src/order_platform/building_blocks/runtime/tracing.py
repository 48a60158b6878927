"""OpenTelemetry tracing: one trace per order, from `POST /orders` through Kafka to the consumers.

Exporting is on only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the standard OTel variables
configure the exporter); otherwise the API's no-op tracer is used and spans cost next to
nothing. The W3C `traceparent` travels in the outbox entry and in the Kafka headers; the
consumers start their own processing span per event as a child of the producer's context
(the aiokafka instrumentation would end its span before our handler runs, and would parent
the publish on the relay's loop rather than on the request).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from fastapi import FastAPI
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

tracer = trace.get_tracer("order_platform")

_TRACE_HEADERS = ("traceparent", "tracestate")


def configure_tracing(service_name: str, *, processor: SpanProcessor | None = None) -> bool:
    """Install a tracer provider if traces are to go somewhere; True when tracing is on.

    `processor` lets tests collect spans in memory; otherwise OTLP over HTTP, configured by
    the standard `OTEL_EXPORTER_OTLP_*` variables.
    """
    if processor is None:
        if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            return False
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        processor = BatchSpanProcessor(OTLPSpanExporter())
    resource = Resource.create({SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    _instrument_clients()
    return True


def _instrument_clients() -> None:
    # Spans for every MongoDB command (PyMongo's command monitoring covers the async client
    # too) and every Redis call; both instrumentations are global and idempotent.
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    PymongoInstrumentor().instrument()
    RedisInstrumentor().instrument()


def instrument_app(app: FastAPI) -> None:
    """HTTP server spans (route, status), continuing a `traceparent` the client sent."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="health/.*,metrics")


def tracing_enabled() -> bool:
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, to store and carry; None when not tracing."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> Context | None:
    return None if not traceparent else propagate.extract({"traceparent": traceparent})


def context_from_headers(headers: Iterable[tuple[str, bytes]]) -> Context:
    carrier = {
        name: value.decode(errors="replace") for name, value in headers if name in _TRACE_HEADERS
    }
    return propagate.extract(carrier)


def trace_id_of(context: Context | None = None) -> str | None:
    """Hex trace id of a context's span (the current one by default), for log lines."""
    span = trace.get_current_span(context)
    span_context = span.get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
