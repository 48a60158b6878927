"""How many outbox entries are still unpublished, read the way the relays' sweeps read it:
an entry is unpublished while it has a lease (its relay removes it once the broker
acknowledged the event)."""

from __future__ import annotations

from typing import Any

from order_platform.order_service.infrastructure.outbox import LEASE_FIELD

UNPUBLISHED = {LEASE_FIELD: {"$exists": True}}


def pending_in(database: Any) -> int:
    """For a synchronous pymongo `Database`."""
    return int(database.orders.count_documents(UNPUBLISHED))


async def pending_in_async(database: Any) -> int:
    """For an asynchronous pymongo `AsyncDatabase`."""
    return int(await database.orders.count_documents(UNPUBLISHED))
