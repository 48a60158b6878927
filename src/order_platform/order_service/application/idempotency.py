"""The Idempotency-Key rules every command shares: whose key it is, and the two refusals."""

from __future__ import annotations

from order_platform.contracts.errors import Conflict, Invalid


class IdempotencyKeyReused(Invalid):
    """The key was first used with a different request body."""

    problem = "idempotency-key-reused"


class RequestInFlight(Conflict):
    """Another request with the same key is still being processed."""

    problem = "request-in-flight"


def caller_scoped(key: str, customer_id: str | None) -> str:
    """Keys are per caller: two customers using the same key never meet. A key has no space
    (visible ASCII only), so "<key> <customer>" is unambiguous; unscoped while auth is off."""
    return key if customer_id is None else f"{key} {customer_id}"
