"""The embedded servers at once, for `order-platform dev`, whole-system tests and the benchmark.

They start in parallel (each start is mostly waiting) and all stop when the block ends; if
one fails to start, the others are stopped before the error propagates.

MongoDB runs as two servers, one for the write model and one for the read model. The
embedded server is one Python process that handles one command at a time, so with a single
server every bulk write of the read side made the next `POST /orders` wait behind it, and
it could use one core at most; each service owning its database server is also how the
platform is meant to be deployed.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Self

from order_platform.devtools.embedded.kafka import KafkaServer
from order_platform.devtools.embedded.launcher import DEFAULT_HOST, EmbeddedServer
from order_platform.devtools.embedded.mongo import MongoServer
from order_platform.devtools.embedded.redis import RedisServer

# Offsets from `port_base` when the caller wants predictable ports (`dev --port-base`).
KAFKA_PORT_OFFSET = 0
MONGODB_PORT_OFFSET = 1
REDIS_PORT_OFFSET = 2
READ_MONGODB_PORT_OFFSET = 3


class EmbeddedServers:
    """Kafka, MongoDB (write and read) and Redis on 127.0.0.1; free ports unless `port_base`."""

    def __init__(
        self,
        *,
        port_base: int | None = None,
        host: str = DEFAULT_HOST,
        log_dir: Path | None = None,
        mongodb_data_dir: Path | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        self._temp_dir: tempfile.TemporaryDirectory[str] | None = None
        if log_dir is None:
            self._temp_dir = tempfile.TemporaryDirectory(prefix="order-platform-embedded-")
            log_dir = Path(self._temp_dir.name)
        self.log_dir = log_dir

        def port(offset: int) -> int | None:
            return None if port_base is None else port_base + offset

        self.kafka = KafkaServer(
            port=port(KAFKA_PORT_OFFSET),
            host=host,
            log_dir=self.log_dir,
            startup_timeout=startup_timeout,
        )
        self.mongodb = MongoServer(
            port=port(MONGODB_PORT_OFFSET),
            host=host,
            log_dir=self.log_dir,
            startup_timeout=startup_timeout,
            data_dir=mongodb_data_dir / "write" if mongodb_data_dir else None,
        )
        self.read_mongodb = MongoServer(
            name="mongodb-read",
            port=port(READ_MONGODB_PORT_OFFSET),
            host=host,
            log_dir=self.log_dir,
            startup_timeout=startup_timeout,
            data_dir=mongodb_data_dir / "read" if mongodb_data_dir else None,
        )
        self.redis = RedisServer(
            port=port(REDIS_PORT_OFFSET),
            host=host,
            log_dir=self.log_dir,
            startup_timeout=startup_timeout,
        )

    @property
    def all(self) -> tuple[EmbeddedServer, ...]:
        return (self.kafka, self.mongodb, self.read_mongodb, self.redis)

    @property
    def kafka_bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers

    @property
    def mongodb_uri(self) -> str:
        """The write model's server (Order Service)."""
        return self.mongodb.uri

    @property
    def read_mongodb_uri(self) -> str:
        """The read model's server (Order Read Service)."""
        return self.read_mongodb.uri

    @property
    def redis_url(self) -> str:
        return self.redis.url

    def start(self) -> Self:
        with ThreadPoolExecutor(max_workers=len(self.all), thread_name_prefix="embedded") as pool:
            futures = [pool.submit(server.start) for server in self.all]
        errors = [error for future in futures if (error := future.exception()) is not None]
        if errors:
            self.stop()
            if len(errors) == 1:
                raise errors[0]
            raise BaseExceptionGroup("embedded servers failed to start", errors)
        return self

    def stop(self) -> None:
        for server in reversed(self.all):
            server.stop()

    def close(self) -> None:
        """Stop everything and delete the temporary log directory, if we created it."""
        self.stop()
        if self._temp_dir is not None:
            self._temp_dir.cleanup()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
