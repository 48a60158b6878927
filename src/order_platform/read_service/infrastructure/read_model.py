"""The read model in MongoDB (db `order-read-db`): one document per order plus the timeline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC
from typing import Any
from uuid import UUID

from bson.decimal128 import Decimal128
from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from order_platform.building_blocks.mongo import translate_unavailable
from order_platform.read_service.application.ports import Page, ReadModelUnavailable
from order_platform.read_service.domain import ListPosition, OrderView
from order_platform.read_service.infrastructure.timeline import (
    DAYS_KEY,
    day_key,
    minute_key,
    newest_first,
    position_slot,
    slot_key,
    timeline_updates,
)

Document = dict[str, Any]


def order_document(view: OrderView) -> Document:
    return {
        "customerName": view.customer_name,
        "totalAmount": Decimal128(view.total_amount),
        "createdAt": view.created_at,
        "eventId": str(view.event_id),
    }


def view_from_document(document: Document) -> OrderView:
    return OrderView(
        id=UUID(document["_id"]),
        customer_name=document["customerName"],
        total_amount=document["totalAmount"].to_decimal(),
        created_at=document["createdAt"].astimezone(UTC),
        event_id=UUID(document["eventId"]),
    )


class MongoReadModel:
    def __init__(self, database: AsyncDatabase[Document]) -> None:
        self._orders = database["orders"]
        self._timeline = database["timeline"]

    async def apply(self, views: Sequence[OrderView]) -> None:
        first_per_order = list({view.id: view for view in reversed(views)}.values())
        with translate_unavailable(ReadModelUnavailable):
            result = await self._orders.bulk_write(
                [
                    UpdateOne({"_id": str(v.id)}, {"$setOnInsert": order_document(v)}, upsert=True)
                    for v in first_per_order
                ],
                ordered=False,
            )
            inserted = set((result.upserted_ids or {}).values())
            # Already stored: list it only if it is the very event stored (a redelivery after a
            # crash between the two writes); a different event for the same order changes nothing.
            known = [v for v in first_per_order if str(v.id) not in inserted]
            stored = await asyncio.gather(
                *(self._orders.find_one({"_id": str(v.id)}, {"eventId": 1}) for v in known)
            )
            redelivered = {
                v.id
                for v, doc in zip(known, stored, strict=True)
                if doc and doc["eventId"] == str(v.event_id)
            }
            listed = [v for v in first_per_order if str(v.id) in inserted or v.id in redelivered]
            if listed:
                await self._timeline.bulk_write(timeline_updates(listed), ordered=False)

    async def get(self, order_id: UUID) -> OrderView | None:
        with translate_unavailable(ReadModelUnavailable):
            document = await self._orders.find_one({"_id": str(order_id)})
        return None if document is None else view_from_document(document)

    async def page(self, limit: int, after: ListPosition | None) -> Page:
        collected: list[OrderView] = []
        with translate_unavailable(ReadModelUnavailable):
            async for slot in self._slots_from(after):
                views = newest_first(slot)
                if after is not None:
                    views = [view for view in views if view.position < after]
                collected.extend(views)
                if len(collected) > limit:
                    return Page(collected[:limit], collected[limit - 1].position)
        return Page(collected, None)

    async def _slots_from(self, after: ListPosition | None) -> AsyncIterator[dict[str, Document]]:
        """Slots from the newest down, starting at the one that holds `after`."""
        start = position_slot(after) if after is not None else None
        for day in sorted(await self._names(DAYS_KEY, "days"), reverse=True):
            if start and day > start[0]:
                continue
            for minute in sorted(await self._names(day_key(day), "minutes"), reverse=True):
                if start and (day, minute) > start[:2]:
                    continue
                slots = await self._names(minute_key(day, minute), "slots")
                for slot in sorted(slots, reverse=True):
                    if start and (day, minute, slot) > start:
                        continue
                    document = await self._timeline.find_one({"_id": slot_key(day, minute, slot)})
                    yield document.get("orders", {}) if document else {}

    async def _names(self, key: str, field: str) -> list[str]:
        document = await self._timeline.find_one({"_id": key}, {field: 1})
        return list(document.get(field, [])) if document else []
