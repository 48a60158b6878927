"""Correlation ids: taken from `X-Correlation-Id` (or made up), returned in the response,
carried in the outbox and the Kafka headers, and bound into every log line of that order."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from contextvars import ContextVar

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_HEADER = b"x-correlation-id"
KAFKA_HEADER = "correlation-id"
_VALID = re.compile(rb"[\x21-\x7e]{1,128}")

current_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)


class CorrelationIdMiddleware:
    """Pure ASGI (no per-request task or body buffering): cheap enough for every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        supplied = next((v for k, v in scope["headers"] if k == HTTP_HEADER), None)
        correlation_id = (
            supplied.decode() if supplied and _VALID.fullmatch(supplied) else uuid.uuid4().hex
        )
        header = (HTTP_HEADER, correlation_id.encode())

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        token = current_correlation_id.set(correlation_id)
        try:
            with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
                await self.app(scope, receive, send_with_header)
        finally:
            current_correlation_id.reset(token)


def correlation_id_from(headers: Iterable[tuple[str, bytes]]) -> str | None:
    for name, value in headers:
        if name == KAFKA_HEADER:
            return value.decode(errors="replace")
    return None
