"""Order Service settings: read once, by the command that runs it (cli.py)."""

from pydantic import Field, field_validator

from order_platform.building_blocks.runtime.settings import HttpAuthSettings


class OrderServiceSettings(HttpAuthSettings):
    mongodb_database: str = "order-write-db"
    # Base of the `Location` header (the read service serves the order); relative when unset.
    order_location_base_url: str = ""
    # An outbox entry belongs to the relay that wrote it for this long; once that relay's
    # heartbeat (every third of this) has run out too, any replica may claim it. Longer means
    # slower recovery after a crash, shorter more lease renewals during a broker outage.
    outbox_lease_seconds: float = 10.0
    outbox_batch_size: int = 200
    # Entries one relay holds in memory at most (a long broker outage under load); beyond it,
    # new entries wait in MongoDB and a sweep picks them up once their leases run out.
    outbox_max_in_memory: int = 50_000
    # The safety net: every this often a relay sweeps for entries left behind for any reason.
    # A full scan on the embedded server, an index lookup on MongoDB.
    outbox_sweep_interval_seconds: float = 60.0
    idempotency_key_ttl_hours: float = 48.0
    mongodb_timeout_seconds: float = 5.0
    # POST /orders per caller (the token's `sub`, else the client address) and minute,
    # counted in Redis (REDIS_URL) across replicas; unset: no limit.
    rate_limit_orders_per_minute: int | None = Field(default=None, ge=1)
    # A Redis slower than this lets the request through (the limit fails open).
    rate_limit_timeout_seconds: float = 0.1

    @field_validator("rate_limit_orders_per_minute", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # `RATE_LIMIT_ORDERS_PER_MINUTE=`: no limit
