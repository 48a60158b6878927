"""Free-port finding and port-conflict detection for the embedded servers.

A server that cannot bind its port exits with a message buried in its log; checking first
turns that into one clear sentence for the developer.
"""

from __future__ import annotations

import socket

from order_platform.devtools.embedded.errors import PortInUseError


def find_free_port(host: str = "127.0.0.1") -> int:
    """Return a port that nothing listens on right now (the kernel picks it).

    Another process may take it before our server binds it; `EmbeddedServer.start` retries
    with a fresh port in that case when the port was not chosen explicitly.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def ensure_port_free(host: str, port: int, *, server_name: str) -> None:
    """Raise `PortInUseError` if something already listens on `host:port`.

    SO_REUSEADDR mirrors what the servers themselves do, so connections of a previous run
    still in TIME_WAIT do not count as "taken": restarting on the same port must work.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            raise PortInUseError(server_name, host, port) from error
