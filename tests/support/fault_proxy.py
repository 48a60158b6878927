"""A fault-injecting TCP proxy to put between a service (or a client) and its server.

It forwards bytes both ways and, on command, makes the server look slow rather than down:
replies delayed (`latency`), replies held until released (`hold_replies`: the request reached
the server, the answer comes after the client's timeout), every open connection cut mid-request
(`drop_connections`), or all traffic silently swallowed (`blackhole`). It runs its own event
loop in a daemon thread, so synchronous tests, async tests and service processes can all use it.

    with FaultProxy(mongo_server.host, mongo_server.port) as proxy:
        uri = f"mongodb://{proxy.address}/?directConnection=true"
        proxy.hold_replies()        # ... the server applies requests, nobody hears back
        proxy.release_replies()
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self

CHUNK = 64 * 1024


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="proxy")
        self._server: asyncio.Server | None = None
        self._connections: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        # Faults, read by the pumps; changed only on the proxy's loop (see `_call`).
        self._latency = 0.0
        # Events bind to a loop on first use only, so they may be made here for the proxy's.
        self._replies_open = asyncio.Event()
        self._traffic_open = asyncio.Event()
        self.connections_accepted = 0

    @property
    def open_connections(self) -> int:
        """Connections accepted and joined to the server, not yet closed."""
        return len(self._connections)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        self._run(self._start())
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._run(self._stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- faults --------------------------------------------------------------------------

    def latency(self, seconds: float) -> None:
        """Delay every reply chunk by `seconds` (0 removes the delay)."""
        self._call(lambda: setattr(self, "_latency", seconds))

    def hold_replies(self) -> None:
        """Requests still reach the server; its replies wait until `release_replies`."""
        self._call(self._replies_open.clear)

    def release_replies(self) -> None:
        self._call(self._replies_open.set)

    def blackhole(self) -> None:
        """Accept connections but forward nothing either way, until `heal`."""
        self._call(self._traffic_open.clear)

    def drop_connections(self) -> None:
        """Cut every open connection at once (new ones are accepted as usual)."""
        self._run(self._drop_all())

    def heal(self) -> None:
        """Remove every fault: no latency, replies and traffic flow again."""

        def heal() -> None:
            self._latency = 0.0
            self._replies_open.set()
            self._traffic_open.set()

        self._call(heal)

    # -- internals -----------------------------------------------------------------------

    def _run[T](self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)

    def _call(self, action: Callable[[], object]) -> None:
        async def apply() -> None:
            action()

        self._run(apply())

    async def _start(self) -> None:
        self._replies_open.set()
        self._traffic_open.set()
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._drop_all()
        others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _drop_all(self) -> None:
        for client, upstream in list(self._connections):
            for writer in (client, upstream):
                transport = writer.transport
                transport.abort()  # an RST, as when a network path breaks mid-request
        self._connections.clear()

    async def _accept(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        self.connections_accepted += 1
        try:
            upstream_reader, upstream = await asyncio.open_connection(*self.upstream)
        except OSError:
            client.transport.abort()
            return
        pair = (client, upstream)
        self._connections.add(pair)
        try:
            await asyncio.gather(
                self._pump(client_reader, upstream, replies=False),
                self._pump(upstream_reader, client, replies=True),
            )
        finally:
            self._connections.discard(pair)
            for writer in pair:
                writer.transport.abort()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, replies: bool
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(CHUNK):
                await self._traffic_open.wait()
                if replies:
                    if self._latency:
                        await asyncio.sleep(self._latency)
                    await self._replies_open.wait()
                writer.write(chunk)
                await writer.drain()
        # One side closed: close the other too, like a real connection would.
        writer.transport.abort()
