"""How many outbox entries may still be unpublished, counted with the production rule
(`UNPUBLISHED`, the query the relays' sweeps read too)."""

from __future__ import annotations

from typing import Any

from order_platform.order_service.outbox.entry import UNPUBLISHED


def pending_in(database: Any) -> int:
    """For a synchronous pymongo `Database`."""
    return int(database.orders.count_documents(UNPUBLISHED))


async def pending_in_async(database: Any) -> int:
    """For an asynchronous pymongo `AsyncDatabase`."""
    return int(await database.orders.count_documents(UNPUBLISHED))
