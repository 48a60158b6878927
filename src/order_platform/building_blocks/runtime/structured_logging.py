"""structlog set-up: JSON lines in production, readable colours on a console.

Whatever the format, one record is one line: user text that reaches a log (a header, a key, an
error message quoting input) has its control characters escaped, so it cannot end the line and
forge a record of its own, nor drive the terminal (ESC) that shows it.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping

import structlog

from order_platform.building_blocks.runtime.settings import ServiceSettings
from order_platform.building_blocks.runtime.tracing import trace_id_of
from order_platform.contracts.user_text import CONTROL_CHARACTERS

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Keys whose value is a traceback (the console writes it below the record's line): its newlines
# are kept, for people to read it, and every line is indented, so that no line of it can pass
# for a record (which starts at column 0 with its timestamp).
_MULTILINE_KEYS = frozenset({"exception", "stack"})
_PLAIN = (int, float, bool, type(None))


def _escaped(control: re.Match[str]) -> str:
    character = control.group()
    if named := _NAMED.get(character):
        return named
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_control_characters(text: str) -> str:
    """`text` with each control character written as its escape (`\\n`, `\\x1b`, `\\u2028`)."""
    return CONTROL_CHARACTERS.sub(_escaped, text)


def _escape_value(value: object) -> object:
    if isinstance(value, str):
        return escape_control_characters(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Mapping):
        return {_escape_value(key): _escape_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_escape_value(item) for item in value]
    # Anything else is rendered through its repr by both renderers; its repr may hold anything.
    return escape_control_characters(repr(value))


def _escape_traceback(text: str) -> str:
    return "\n".join(
        "  " + escaped if (escaped := escape_control_characters(line)) else escaped
        for line in text.split("\n")
    )


def escape_control_characters_processor(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """Escape the control characters of every string in the record (the event included)."""
    for key, value in event.items():
        if key == "exc_info":
            continue  # still to be formatted by the renderer; formatted tracebacks come below
        if key in _MULTILINE_KEYS and isinstance(value, str):
            event[key] = _escape_traceback(value)
        else:
            event[key] = _escape_value(value)
    return event


class EscapingFormatter(logging.Formatter):
    """The standard library's records (uvicorn, aiokafka) get the same treatment: the message
    is escaped; a traceback, appended after it, keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_control_characters(super().formatMessage(record))


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
            # Last before rendering: JSON escapes \n but writes C1 controls and U+2028 as they
            # are (ensure_ascii=False), and the console writes everything as it is.
            escape_control_characters_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def log_renamed_settings(settings: ServiceSettings, *, command: str) -> None:
    """For a command that prints its results and sets up no logging: the deprecated setting
    names it was given, logged on stderr as the services log them (nothing set up otherwise)."""
    if settings.renamed_in_use:
        configure_logging(service=command, level=settings.log_level, log_format=settings.log_format)
        settings.warn_renamed()
