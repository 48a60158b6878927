"""Newest-first listing built from point lookups only.

The embedded MongoDB-wire server scans and sorts the whole collection for every
`find().sort()`, whatever the indexes (DESIGN.md, "Servers"). So the list is kept in
time slots addressed by `_id`: one document per 100 ms holds that slot's orders (a map by
order id), and a small index (days → minutes of a day → slots of a minute) says which slots
exist. Every update is an upsert that sets a field or adds to a set: idempotent and
order-independent, so redeliveries, replicas and partitions apply events in any order. A
page reads a handful of documents by `_id`, on any MongoDB, however large the model grows;
slots stay small at any order rate the platform sustains (~1,500/s: ~150 per slot).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from bson.decimal128 import Decimal128
from pymongo import UpdateOne

from order_platform.read_service.domain import ListPosition, OrderView

Document = dict[str, Any]

DAYS_KEY = "days"


def slot_of(at: datetime) -> tuple[str, str, str]:
    """(day, minute, slot): e.g. ("2026-11-25", "08:39", "12.3") for 08:39:12.3xx UTC."""
    at = at.astimezone(UTC)
    return (
        at.strftime("%Y-%m-%d"),
        at.strftime("%H:%M"),
        f"{at.second:02d}.{at.microsecond // 100_000}",
    )


def day_key(day: str) -> str:
    return f"day:{day}"


def minute_key(day: str, minute: str) -> str:
    return f"minute:{day}T{minute}"


def slot_key(day: str, minute: str, slot: str) -> str:
    return f"slot:{day}T{minute}:{slot}"


def entry(view: OrderView) -> Document:
    return {
        "customerName": view.customer_name,
        "totalAmount": Decimal128(view.total_amount),
        "createdAt": view.created_at,
        "eventId": str(view.event_id),
    }


def view_from_entry(order_id: str, document: Document) -> OrderView:
    return OrderView(
        id=UUID(order_id),
        customer_name=document["customerName"],
        total_amount=document["totalAmount"].to_decimal(),
        created_at=document["createdAt"].astimezone(UTC),
        event_id=UUID(document["eventId"]),
    )


def timeline_updates(views: Iterable[OrderView]) -> list[UpdateOne]:
    """Slots first, then the index from the bottom up; a reader treats a slot the index
    names but that holds nothing yet as empty."""
    slots: dict[str, dict[str, Document]] = defaultdict(dict)
    minutes: dict[str, set[str]] = defaultdict(set)
    days: dict[str, set[str]] = defaultdict(set)
    for view in views:
        day, minute, slot = slot_of(view.created_at)
        slots[slot_key(day, minute, slot)][f"orders.{view.id}"] = entry(view)
        minutes[minute_key(day, minute)].add(slot)
        days[day_key(day)].add(minute)
    updates = [
        UpdateOne({"_id": key}, {"$set": fields}, upsert=True) for key, fields in slots.items()
    ]
    updates += [
        UpdateOne({"_id": key}, {"$addToSet": {"slots": {"$each": sorted(values)}}}, upsert=True)
        for key, values in minutes.items()
    ]
    updates += [
        UpdateOne({"_id": key}, {"$addToSet": {"minutes": {"$each": sorted(values)}}}, upsert=True)
        for key, values in days.items()
    ]
    updates.append(
        UpdateOne(
            {"_id": DAYS_KEY},
            {"$addToSet": {"days": {"$each": sorted(key.removeprefix("day:") for key in days)}}},
            upsert=True,
        )
    )
    return updates


def newest_first(orders: Mapping[str, Document]) -> list[OrderView]:
    views = (view_from_entry(order_id, document) for order_id, document in orders.items())
    return sorted(views, key=lambda view: view.position, reverse=True)


def position_slot(position: ListPosition) -> tuple[str, str, str]:
    return slot_of(position.created_at)
