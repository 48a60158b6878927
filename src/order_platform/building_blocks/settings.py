"""Settings every service reads from the environment (12-factor); each service extends them."""

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = "localhost:9092"
    # The embedded broker (Tansu) rejects InitProducerId, so `dev` and the tests turn this off.
    kafka_enable_idempotence: bool = True
    order_created_topic: str = "order-created"
    mongodb_uri: str = "mongodb://localhost:27017"
    redis_url: str = "redis://localhost:6379/0"
    # Consumers: Tansu (embedded) joins a group in about session_timeout / 2.
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    # How often each consumer exports the group's lag for every partition of the topic.
    consumer_lag_interval_seconds: float = 5.0
    # A background task that keeps dying without a healthy run for this long makes the
    # process exit non-zero (status 70), so that an orchestrator restarts it.
    task_give_up_seconds: float = 60.0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "console"
