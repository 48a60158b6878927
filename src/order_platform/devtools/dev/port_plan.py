"""The ports of `dev`: which part listens where, and a check that all of them are free.

Service ports are port_base + offset (the operator console on BASE+4); the embedded servers
start at port_base + 10. Extra
replicas get predictable ports too: read service i (1-based beyond the first) on
BASE+20+i, worker i on BASE+30+i, so that at most 9 replicas fit between the ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

from order_platform.devtools.dev.failures import DevError, with_hint
from order_platform.devtools.dev.options import DevOptions
from order_platform.devtools.embedded import PortInUseError
from order_platform.devtools.embedded.ports import ensure_port_free

ORDER_SERVICE_OFFSET = 1
READ_SERVICE_OFFSET = 2
NOTIFICATION_SERVICE_OFFSET = 3
OPERATOR_CONSOLE_OFFSET = 4
SERVERS_OFFSET = 10
READ_REPLICA_OFFSET = 20
NOTIFICATION_REPLICA_OFFSET = 30
MAX_REPLICAS = 9


@dataclass(frozen=True, slots=True)
class PortPlan:
    """Every port `dev` will listen on, decided (and checked) before anything starts."""

    order: int
    read: tuple[int, ...]
    notification: tuple[int, ...]
    servers_base: int
    console: int = 0  # the operator console

    @classmethod
    def of(cls, options: DevOptions) -> PortPlan:
        if not 1 <= options.replicas <= MAX_REPLICAS:
            raise DevError(f"--replicas must be between 1 and {MAX_REPLICAS}")
        base = options.port_base

        def replicas(first: int | None, offset: int, extra_offset: int) -> tuple[int, ...]:
            head = first if first is not None else base + offset
            return (head, *(base + extra_offset + i for i in range(1, options.replicas)))

        return cls(
            order=(
                options.order_port
                if options.order_port is not None
                else base + ORDER_SERVICE_OFFSET
            ),
            read=replicas(options.read_port, READ_SERVICE_OFFSET, READ_REPLICA_OFFSET),
            notification=replicas(
                options.notification_port, NOTIFICATION_SERVICE_OFFSET, NOTIFICATION_REPLICA_OFFSET
            ),
            servers_base=base + SERVERS_OFFSET,
            console=(
                options.console_port
                if options.console_port is not None
                else base + OPERATOR_CONSOLE_OFFSET
            ),
        )

    def services(self) -> list[tuple[str, int]]:
        """The services to start, each with its port: the order service, then the replicas,
        then the operator console."""
        return [
            ("order-service", self.order),
            *(("read-service", port) for port in self.read),
            *(("notification-service", port) for port in self.notification),
            ("console", self.console),
        ]

    def named(self) -> list[tuple[str, int]]:
        servers = [("kafka", 0), ("mongodb", 1), ("redis", 2)]
        return [
            *self.services(),
            *((name, self.servers_base + offset) for name, offset in servers),
        ]

    def check(self, host: str) -> None:
        """One sentence for a port outside 1-65535, used twice, or taken by another process."""
        seen: dict[int, str] = {}
        for name, port in self.named():
            if not 0 < port < 65536:
                raise DevError(f"{name}: port {port} is not a valid TCP port; lower --port-base")
            if port in seen:
                raise DevError(f"{name} and {seen[port]} would both use port {port}")
            seen[port] = name
            try:
                ensure_port_free(host, port, server_name=name)
            except PortInUseError as error:
                raise DevError(with_hint(error)) from None
