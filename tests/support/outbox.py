"""How many outbox entries are still unpublished, read the way the relays' sweeps read it.

A published entry stays in its order; it counts as published once its relay's heartbeat
recorded a mark at or above its number (and does not list it as expected), or once that
relay left cleanly (its heartbeat document is gone). So "nothing pending" follows a publish
by up to one heartbeat interval.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Document = dict[str, Any]

ORDER_PROJECTION = {"outbox.leaseOwner": 1, "outbox.seq": 1}


def unpublished(orders: Iterable[Document], relays: Iterable[Document]) -> int:
    marks = {
        relay["_id"]: (relay.get("publishedUpTo", 0), set(relay.get("expected", ())))
        for relay in relays
    }
    count = 0
    for order in orders:
        outbox = order.get("outbox")
        if outbox is None or outbox["leaseOwner"] not in marks:
            continue
        mark, expected = marks[outbox["leaseOwner"]]
        count += outbox["seq"] > mark or outbox["seq"] in expected
    return count


def pending_in(database: Any) -> int:
    """For a synchronous pymongo `Database`."""
    return unpublished(database.orders.find({}, ORDER_PROJECTION), database.outbox_relays.find())


async def pending_in_async(database: Any) -> int:
    """For an asynchronous pymongo `AsyncDatabase`."""
    orders = await database.orders.find({}, ORDER_PROJECTION).to_list()
    return unpublished(orders, await database.outbox_relays.find().to_list())
