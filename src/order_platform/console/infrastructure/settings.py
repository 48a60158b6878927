"""The console's settings: where the services and Kafka are, and how it calls them."""

from __future__ import annotations

from pydantic import SecretStr

from order_platform.building_blocks.runtime.settings import ServiceSettings


class ConsoleSettings(ServiceSettings):
    # Each may list several replicas, comma-separated: each is scraped (rates add up, and
    # the replica that owns a partition is named). The first one answers the hop questions.
    order_service_url: str = "http://localhost:8001"
    read_service_url: str = "http://localhost:8002"
    notification_service_url: str = "http://localhost:8003"
    read_consumer_group: str = "order-read-service"
    notification_consumer_group: str = "notification-service"
    # An `orders:admin` bearer token for services that verify tokens (AUTH_JWKS_URL).
    console_access_token: SecretStr | None = None
    console_scrape_interval_seconds: float = 2.0
    console_refresh_interval_seconds: float = 1.0
    console_dead_letters_interval_seconds: float = 5.0
    # While no page has asked for `console_watched_seconds`, each of the three waits this
    # long instead (the first request after that wakes them): an unwatched console costs
    # the services one scrape each per this interval. Below the rates' one-minute window.
    console_idle_interval_seconds: float = 15.0
    console_watched_seconds: float = 30.0
    console_http_timeout_seconds: float = 2.0
    # How many of the topic's latest orders the console keeps (per partition at start).
    console_orders_kept: int = 2000
    # The names it answers to, `host[:port]` (any port without one), comma-separated; empty:
    # its bind address, localhost, 127.0.0.1 and [::1], each with its port (`bound_to`).
    console_allowed_hosts: str = ""

    def bound_to(self, host: str, port: int) -> ConsoleSettings:
        """These settings for a console listening on `host`:`port`."""
        if self.allowed_host_list:
            return self
        names = ["localhost", "127.0.0.1", "[::1]"]
        bind = f"[{host}]" if ":" in host else host
        wildcards = ("0.0.0.0", "[::]")  # noqa: S104 (compared, not bound: no name to answer to)
        if bind not in (*names, *wildcards):
            names.insert(0, bind)
        hosts = ",".join(f"{name}:{port}" for name in names)
        return self.model_copy(update={"console_allowed_hosts": hosts})

    @property
    def allowed_host_list(self) -> list[str]:
        return [host.strip() for host in self.console_allowed_hosts.split(",") if host.strip()]

    @staticmethod
    def urls(value: str) -> list[str]:
        return [url.strip().rstrip("/") for url in value.split(",") if url.strip()]
