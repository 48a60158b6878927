"""structlog set-up: JSON lines in production, readable colours on a console."""

from __future__ import annotations

import logging
import sys

import structlog

from order_platform.building_blocks.tracing import trace_id_of


def _add_trace_id(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    if "trace_id" not in event and (trace_id := trace_id_of()) is not None:
        event["trace_id"] = trace_id
    return event


def configure_logging(*, service: str, level: str = "INFO", log_format: str = "console") -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_trace_id,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
