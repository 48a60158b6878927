"""An ASGI app behind a real uvicorn server in this process, on a free loopback port: for what
only a server shows (when an answer leaves, whether the connection stays open)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from tests.support.waiting import eventually


@asynccontextmanager
async def uvicorn_serving(app: Any, *, http: str = "auto") -> AsyncIterator[tuple[str, int]]:
    """Yields `(host, port)` once the server listens and the app's lifespan has started."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    host, port = listener.getsockname()
    server = uvicorn.Server(uvicorn.Config(app, http=http, log_config=None, access_log=False))
    serving = asyncio.create_task(server.serve(sockets=[listener]))

    async def started() -> bool:
        if serving.done():
            serving.result()  # the server failed to start: say why
        return server.started

    try:
        await eventually(started, timeout=10, what="uvicorn started")
        yield host, port
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=10)
        listener.close()
