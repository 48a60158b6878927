"""The embedded servers start, answer real clients, restart on their port and fail clearly."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import redis.asyncio as redis_asyncio
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pymongo import AsyncMongoClient
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from order_platform.devtools.embedded import (
    EmbeddedServer,
    EmbeddedServers,
    KafkaServer,
    MongoServer,
    PortInUseError,
    RedisServer,
    ServerStartError,
    create_topic,
)
from order_platform.devtools.embedded import launcher as launcher_module

# Tansu completes a group join after about half the session timeout: keep it short in tests.
FAST_GROUP_JOIN = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 300}


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on which another process (here: a plain socket) already listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


async def test_kafka_produce_and_consume_with_a_committed_consumer_group(
    kafka_bootstrap: str, unique_name: str
) -> None:
    await create_topic(kafka_bootstrap, unique_name, partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=5000)
    await producer.start()
    try:
        await asyncio.wait_for(producer.send_and_wait(unique_name, b"hello"), timeout=10)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        unique_name,
        bootstrap_servers=kafka_bootstrap,
        group_id=unique_name,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **FAST_GROUP_JOIN,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=15)
        await consumer.commit()
        committed = await consumer.committed(TopicPartition(unique_name, 0))
    finally:
        await consumer.stop()

    assert message.value == b"hello"
    assert committed == 1


async def test_create_topic_rejects_an_existing_name_unless_told_otherwise(
    kafka_bootstrap: str, unique_name: str
) -> None:
    await create_topic(kafka_bootstrap, unique_name, partitions=2)
    await create_topic(kafka_bootstrap, unique_name, partitions=2, exist_ok=True)
    with pytest.raises(Exception, match="already exists"):
        await create_topic(kafka_bootstrap, unique_name, partitions=2)


async def test_mongodb_insert_find_and_transaction(mongodb_uri: str, unique_name: str) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        mongodb_uri, serverSelectionTimeoutMS=5000
    )
    try:
        db = client[unique_name]
        await db.orders.insert_one({"_id": "o-1", "total": "9.99"})
        assert await db.orders.find_one({"_id": "o-1"}) == {"_id": "o-1", "total": "9.99"}

        async with client.start_session() as session, await session.start_transaction():
            await db.orders.insert_one({"_id": "o-2"}, session=session)
            await db.outbox.insert_one({"_id": "e-2", "order": "o-2"}, session=session)

        async with client.start_session() as session:
            await session.start_transaction()
            await db.orders.insert_one({"_id": "o-3"}, session=session)
            await session.abort_transaction()

        assert await db.orders.count_documents({}) == 2
        assert await db.outbox.find_one({"_id": "e-2"}) is not None
        assert await db.orders.find_one({"_id": "o-3"}) is None
    finally:
        await client.close()


async def test_redis_set_and_get(redis_url: str, unique_name: str) -> None:
    client = redis_asyncio.Redis.from_url(redis_url, socket_timeout=5)
    try:
        await client.set(unique_name, "value")
        assert await client.get(unique_name) == b"value"
    finally:
        await client.aclose()


async def test_kafka_comes_back_on_the_same_port_after_stop(
    kafka_server: KafkaServer, unique_name: str
) -> None:
    port = kafka_server.port
    with kafka_server.stopped():
        assert not kafka_server.is_running
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((kafka_server.host, port), timeout=1).close()
    assert kafka_server.port == port
    await test_kafka_produce_and_consume_with_a_committed_consumer_group(
        kafka_server.bootstrap_servers, unique_name
    )


async def test_redis_client_reconnects_after_the_server_is_killed_and_restarted(
    redis_server: RedisServer, unique_name: str
) -> None:
    # `from_url` clients get no retry by default (redis-py 8): without one, the first command
    # after a restart fails on the stale pooled connection.
    client = redis_asyncio.Redis.from_url(
        redis_server.url, socket_timeout=5, retry=Retry(ExponentialBackoff(), retries=3)
    )
    try:
        await client.set(unique_name, "before")
        redis_server.kill()
        redis_server.start()
        # In-memory data is gone with the process; the same client reconnects to the port.
        assert await client.get(unique_name) is None
        await client.set(unique_name, "after")
        assert await client.get(unique_name) == b"after"
    finally:
        await client.aclose()


def test_mongodb_restarts_on_the_same_port(mongo_server: MongoServer) -> None:
    port = mongo_server.port
    mongo_server.restart()
    assert mongo_server.port == port
    assert mongo_server.is_ready()


@pytest.mark.parametrize("server_class", [KafkaServer, MongoServer, RedisServer])
def test_a_taken_port_gives_a_clear_error(
    server_class: type[EmbeddedServer], taken_port: int, tmp_path: Path
) -> None:
    server = server_class(port=taken_port, log_dir=tmp_path)
    with pytest.raises(PortInUseError, match=f"port {taken_port} .* already in use"):
        server.start()
    assert not server.is_running


def test_a_port_lost_to_a_race_is_recognised_in_the_server_log(
    taken_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process may bind the port between our check and the server's own bind."""
    monkeypatch.setattr(launcher_module, "ensure_port_free", lambda *_a, **_k: None)
    server = RedisServer(port=taken_port, log_dir=tmp_path, startup_timeout=10)
    with pytest.raises(PortInUseError, match=str(taken_port)):
        server.start()


class _FailingServer(EmbeddedServer):
    name: ClassVar[str] = "failing"

    def command(self) -> list[str]:
        return [sys.executable, "-c", "import sys; print('bad configuration'); sys.exit(3)"]

    def is_ready(self) -> bool:
        return False


class _SilentServer(_FailingServer):
    def command(self) -> list[str]:
        return [sys.executable, "-c", "import time; print('starting'); time.sleep(60)"]


def test_a_server_that_exits_early_reports_its_exit_code_and_log(tmp_path: Path) -> None:
    server = _FailingServer(log_dir=tmp_path)
    with pytest.raises(ServerStartError, match=r"(?s)exited with code 3.*bad configuration"):
        server.start()


def test_a_server_that_never_answers_is_killed_at_the_deadline(tmp_path: Path) -> None:
    server = _SilentServer(log_dir=tmp_path, startup_timeout=0.5)
    with pytest.raises(ServerStartError, match=r"(?s)did not answer within.*starting"):
        server.start()
    assert not server.is_running


def test_embedded_servers_start_all_three_and_stop_them(tmp_path: Path) -> None:
    with EmbeddedServers(log_dir=tmp_path) as servers:
        assert all(server.is_running for server in servers.all)
        assert servers.kafka_bootstrap_servers == f"127.0.0.1:{servers.kafka.port}"
        assert servers.mongodb_uri.startswith(f"mongodb://127.0.0.1:{servers.mongodb.port}/")
        assert servers.redis_url == f"redis://127.0.0.1:{servers.redis.port}/0"
        assert all(server.is_ready() for server in servers.all)
    assert not any(server.is_running for server in servers.all)
