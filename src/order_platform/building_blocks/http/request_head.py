"""uvicorn's httptools protocol with a bound on each request head (request line and headers).

httptools (llhttp) has no limit of its own: it keeps an unfinished header line in memory
however long it grows, so one anonymous connection could make the process buffer tens of MiB
(guarantee 11). h11 has a limit (`h11_max_incomplete_event_size`) but parses more slowly;
this keeps httptools and counts the bytes it is fed while a head is incomplete.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import structlog
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

log = structlog.get_logger(__name__)

DEFAULT_MAX_HEAD_BYTES = 16 * 1024  # h11's default


class BoundedHeadProtocol(HttpToolsProtocol):
    """Feeds the parser at most `max_head_bytes` while a request head is incomplete; a head
    that needs more is answered 431 and the connection closed.

    The count restarts when a request ends. A pipelined request whose head starts inside the
    same read that ended the previous one is counted from the next read on, so such a head
    can exceed the bound by at most that one read (asyncio reads up to 256 KiB at a time).
    """

    max_head_bytes: ClassVar[int] = DEFAULT_MAX_HEAD_BYTES

    @classmethod
    def limited_to(cls, max_head_bytes: int) -> type[BoundedHeadProtocol]:
        """This protocol with another bound (uvicorn takes a class, not an instance)."""
        return type(cls.__name__, (cls,), {"max_head_bytes": max_head_bytes})

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._reading_head = True
        self._head_bytes = 0
        self._heads_completed = 0

    def data_received(self, data: bytes) -> None:
        if not self._reading_head:  # a body: the apps' body limit and flow control bound it
            super().data_received(data)
            return
        room = self.max_head_bytes - self._head_bytes
        if len(data) <= room:
            self._head_bytes += len(data)
            super().data_received(data)
            return
        # Feed only what the bound allows: unless the head ends within it, it is too large.
        heads_completed = self._heads_completed
        super().data_received(data[:room])
        if self.transport.is_closing():  # the parser refused it already (400)
            return
        if self._heads_completed == heads_completed:
            self._refuse_head()
            return
        self.data_received(data[room:])

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._heads_completed += 1
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True
        self._head_bytes = 0

    def _refuse_head(self) -> None:
        log.warning(
            "request_head_too_large",
            client=self.client[0] if self.client else None,
            max_head_bytes=self.max_head_bytes,
        )
        body = json.dumps(
            {
                "type": "about:blank",
                "title": "Request Header Fields Too Large",
                "status": 431,
                "detail": f"The request line and headers exceed {self.max_head_bytes} bytes.",
            }
        ).encode()
        head = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/problem+json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()
