"""Entrypoint of the embedded MongoDB-wire server, run as
`python -m order_platform.devtools.embedded.mongo_server`.

It runs in its own process so that its event loop and CPU time never compete with the code
under test, and so that it can be stopped and restarted like the other servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

from mongoeco.engines.base import AsyncStorageEngine
from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

from order_platform.devtools.embedded.fast_memory_engine import FastIdMemoryEngine


def build_engine(data_dir: Path | None) -> AsyncStorageEngine:
    """In memory by default; SQLite in `data_dir` when the data must survive a restart."""
    if data_dir is None:
        return FastIdMemoryEngine()
    from mongoeco.engines.sqlite import SQLiteEngine

    data_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteEngine(str(data_dir / "mongoeco.sqlite3"))


async def serve(host: str, port: int, data_dir: Path | None, parent_pid: int | None) -> None:
    """Serve until SIGTERM/SIGINT, or until the launching process is gone."""
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    server = AsyncMongoEcoProxyServer(engine=build_engine(data_dir), host=host, port=port)
    address = await server.start()
    print(f"mongoeco wire server listening on {address.uri}", flush=True)
    with _stop_when_gone(parent_pid, stopped):
        await stopped.wait()
    await server.close()
    print("mongoeco wire server stopped", flush=True)


@contextlib.contextmanager
def _stop_when_gone(pid: int | None, stopped: asyncio.Event) -> Iterator[None]:
    """Stop when the launcher died without stopping us (SIGKILL, crash), to leave no orphan.

    A pidfd becomes readable when its process exits (Linux); elsewhere there is no watchdog.
    """
    if pid is None or not hasattr(os, "pidfd_open"):
        yield
        return
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        stopped.set()
        yield
        return
    loop = asyncio.get_running_loop()
    loop.add_reader(pidfd, stopped.set)
    try:
        yield
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the MongoDB wire protocol with mongoeco.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, default=None, help="persist with SQLite here")
    parser.add_argument("--parent-pid", type=int, default=None, help="exit when it is gone")
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args.host, args.port, args.data_dir, args.parent_pid))
    except OSError as error:
        print(f"mongoeco wire server failed: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
