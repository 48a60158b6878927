"""ASGI middleware that bounds request bodies: 413 as soon as a body crosses the limit.

Nothing is read ahead: the body is counted while the route reads it, so a route that refuses
first (a missing token: 401) answers as soon as the request's head is in, chunked or not
(guarantee 11). An answer given before the body has been read whole closes the connection,
so that a client cannot hold it by going on sending.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from order_platform.building_blocks.http.problem import PROBLEM_JSON

MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(HTTPException):
    """Raised by `receive` once the body crosses the limit; the problem handlers answer 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request bodies are limited to {max_bytes} bytes.")


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        unread = declared != 0 and (
            declared is not None or _has_header(scope, b"transfer-encoding")
        )
        answered = False

        async def counting_receive() -> Message:
            nonlocal received, unread
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                unread = bool(message.get("more_body", False))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def closing_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
                if unread:
                    headers = [*message.get("headers", []), (b"connection", b"close")]
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, counting_receive, closing_send)
        except BodyTooLarge:
            # Read outside the routes' exception handlers (e.g. by a middleware): answer here.
            if answered:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Content Too Large",
                "status": 413,
                "detail": f"Request bodies are limited to {self.max_bytes} bytes.",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _has_header(scope: Scope, wanted: bytes) -> bool:
    return any(name == wanted for name, _ in scope["headers"])
