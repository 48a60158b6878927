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
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "console"
