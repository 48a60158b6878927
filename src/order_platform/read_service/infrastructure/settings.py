"""Order Read Service settings: read once, by the command that runs it (cli.py)."""

from order_platform.building_blocks.runtime.settings import HttpAuthSettings


class ReadServiceSettings(HttpAuthSettings):
    mongodb_database: str = "order-read-db"
    mongodb_timeout_seconds: float = 5.0
    consumer_group: str = "order-read-service"
    consumer_max_batch: int = 500
    # Redis answers in well under a millisecond; past this the request goes to MongoDB.
    redis_timeout_seconds: float = 0.25
    # After a Redis failure, skip it for this long instead of paying its timeout per request.
    redis_retry_after_seconds: float = 1.0
    cache_key_prefix: str = "order-read-service:"
    cache_ttl_seconds: int = 3600
    list_cache_ttl_seconds: int = 60
