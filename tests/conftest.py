"""Session-wide embedded servers for integration and end-to-end tests.

Each server starts the first time a test asks for it and stops when the session ends, so a
unit-test run starts none. Tests share a server and isolate themselves with `unique_name`.
A test that stops a server must bring it back (`with kafka_server.stopped(): ...`).
"""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from order_platform.devtools.embedded import KafkaServer, MongoServer, RedisServer


@pytest.fixture(scope="session")
def kafka_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaServer]:
    with KafkaServer(log_dir=tmp_path_factory.mktemp("kafka")) as server:
        yield server


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MongoServer]:
    with MongoServer(log_dir=tmp_path_factory.mktemp("mongodb")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(log_dir=tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_server: KafkaServer) -> str:
    return kafka_server.bootstrap_servers


@pytest.fixture(scope="session")
def mongodb_uri(mongo_server: MongoServer) -> str:
    return mongo_server.uri


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def unique_name() -> str:
    """A fresh database, topic, group or key prefix per test, valid in all three servers."""
    return f"t-{uuid4().hex[:12]}"
