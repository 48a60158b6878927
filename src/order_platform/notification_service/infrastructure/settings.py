"""Notification Service settings: read once, by the command that runs it (cli.py)."""

from collections.abc import Mapping
from typing import ClassVar, Literal, Self

from pydantic import model_validator

from order_platform.building_blocks.runtime.settings import ServiceSettings


class NotificationServiceSettings(ServiceSettings):
    # The names the read service uses for the same things; the old ones go after one release.
    renamed: ClassVar[Mapping[str, str]] = {
        "notification_consumer_group": "consumer_group",
        "notification_batch_size": "consumer_max_batch",
    }

    consumer_group: str = "notification-service"
    # `log` writes one line per order; `webhook` POSTs the notification as JSON.
    notification_sender: Literal["log", "webhook"] = "log"
    notification_webhook_url: str = ""
    # The whole request (connect, send, answer) must fit in this; a timeout is retried.
    notification_webhook_timeout_seconds: float = 5.0
    # How long a claim protects a send in progress. It must outlast the slowest send (else a
    # second replica may send too) and is what a crash mid-send costs in delay before the
    # redelivery sends again.
    notification_claim_seconds: float = 30.0
    # How long "sent" is remembered: longer than any redelivery can come (topic retention).
    notification_dedup_ttl_hours: float = 24 * 14
    notification_dedup_key_prefix: str = "notification-service"
    # Events per batch, all sent concurrently: with SIGTERM the batch in flight is finished,
    # so one batch must take at most about one webhook timeout.
    consumer_max_batch: int = 32
    notification_max_attempts: int = 5
    notification_backoff_base_seconds: float = 0.2
    notification_backoff_max_seconds: float = 5.0
    redis_timeout_seconds: float = 2.0

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.notification_sender == "webhook" and not self.notification_webhook_url:
            raise ValueError("NOTIFICATION_SENDER=webhook needs NOTIFICATION_WEBHOOK_URL")
        if self.notification_claim_seconds <= 2 * self.notification_webhook_timeout_seconds:
            raise ValueError(
                "NOTIFICATION_CLAIM_SECONDS must exceed twice the webhook timeout, "
                "or a slow send could be taken over and sent twice"
            )
        return self
