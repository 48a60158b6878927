"""Newest-first listing built from point lookups and inserts only.

The embedded MongoDB-wire server scans and sorts the whole collection for every
`find().sort()`, whatever the indexes, and an update costs it a copy of the whole document
(docs/design.md, "Servers"). So the list is written append-only: each projected batch inserts one
**chunk** per second it touches (the orders of that second in that batch), and a small index
says which chunks exist: days → minutes of a day → seconds of a minute → chunks of a second,
each an `$addToSet` upsert. A page reads a handful of documents by `_id`, on any MongoDB,
however large the model grows, and a chunk is as large as a batch, so chunks stay few when
orders come fast and lookups stay few when they come slowly.

A redelivered batch writes its orders into a new chunk: the same order can then stand in two
chunks of its second, always with the same position, and is listed once (`merge`).

Each customer has a timeline of their own, built the same way under the keys of their
**scope** (`customer_scope`), so that "my orders" costs what "all orders" costs: point
lookups, never a filter over every order. The whole list has the scope "".
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from bson.decimal128 import Decimal128
from pymongo import UpdateOne

from order_platform.read_service.domain import ListPosition, OrderView

Document = dict[str, Any]
Second = tuple[str, str, str]  # ("2026-11-25", "08:39", "12")

DAYS_KEY = "days"


def second_of(at: datetime) -> Second:
    at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d"), at.strftime("%H:%M"), at.strftime("%S")


def customer_scope(customer_id: str) -> str:
    """The key prefix of one customer's timeline (a customer id holds no control character,
    so the `\x1f` ends it unambiguously: no id is a prefix of another's scope)."""
    return f"customer:{customer_id}\x1f"


def status_scope(status: str, customer_id: str | None = None) -> str:
    """The key prefix of the timeline of orders that reached `status` (of one customer's, when
    given). Append-only like the others: an order that moves on stays in it, and a filtered
    page drops it by its current status (`shipped` and `cancelled` are final, so theirs are
    exact)."""
    owner = "" if customer_id is None else customer_scope(customer_id)
    return f"{owner}status:{status}\x1f"


def days_key(scope: str = "") -> str:
    return f"{scope}{DAYS_KEY}"


def day_key(day: str, scope: str = "") -> str:
    return f"{scope}day:{day}"


def minute_key(day: str, minute: str, scope: str = "") -> str:
    return f"{scope}minute:{day}T{minute}"


def second_key(second: Second, scope: str = "") -> str:
    day, minute, sec = second
    return f"{scope}second:{day}T{minute}:{sec}"


def entry(view: OrderView) -> Document:
    document: Document = {
        "id": str(view.id),
        "customerName": view.customer_name,
        "totalAmount": Decimal128(view.total_amount),
        "createdAt": view.created_at,
        "eventId": str(view.event_id),
    }
    if view.customer_id is not None:
        document["customerId"] = view.customer_id
    return document


def compact_entry(view: OrderView) -> str:
    """An order as one string that sorts as its position does (time to the millisecond, as
    BSON keeps it, then id), for the chunks and the head: one scalar per order, where a
    sub-document costs the embedded server an encoding, a validation and a copy per field."""
    at = view.created_at.astimezone(UTC)
    moment = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}"
    rest: Document = {
        "customerName": view.customer_name,
        "totalAmount": str(view.total_amount),
        "eventId": str(view.event_id),
    }
    if view.customer_id is not None:
        rest["customerId"] = view.customer_id
    return f"{moment}|{view.id}|{json.dumps(rest, ensure_ascii=False)}"


def view_from_compact(text: str) -> OrderView:
    moment, order_id, rest = text.split("|", 2)
    fields = json.loads(rest)
    return OrderView(
        id=UUID(order_id),
        customer_name=fields["customerName"],
        total_amount=Decimal(fields["totalAmount"]),
        created_at=datetime.fromisoformat(moment).replace(tzinfo=UTC),
        event_id=UUID(fields["eventId"]),
        customer_id=fields.get("customerId"),
    )


def view_from_entry(document: Document) -> OrderView:
    return OrderView(
        id=UUID(document["id"]),
        customer_name=document["customerName"],
        total_amount=document["totalAmount"].to_decimal(),
        created_at=document["createdAt"].astimezone(UTC),
        event_id=UUID(document["eventId"]),
        customer_id=document.get("customerId"),
    )


def chunks_of(views: Iterable[OrderView], scope: str = "") -> dict[Second, Document]:
    """One new chunk document per second the batch touches."""
    by_second: dict[Second, list[str]] = defaultdict(list)
    for view in views:
        by_second[second_of(view.created_at)].append(compact_entry(view))
    return {
        second: {
            "_id": f"chunk:{second_key(second, scope)}:{uuid.uuid4().hex}",
            "orders": orders,
        }
        for second, orders in by_second.items()
    }


def index_updates(
    chunks: dict[Second, Document], already_indexed: set[str], scope: str = ""
) -> list[UpdateOne]:
    """Add the chunks to their seconds, and seconds, minutes and days not yet known to be
    indexed, bottom up: an index entry is written only once what it points to exists."""
    updates = [
        UpdateOne(
            {"_id": second_key(second, scope)},
            {"$addToSet": {"chunks": chunk["_id"]}},
            upsert=True,
        )
        for second, chunk in chunks.items()
    ]
    parents: list[tuple[str, str, str]] = []  # (document, field, value)
    for day, minute, sec in chunks:
        parents += [
            (minute_key(day, minute, scope), "seconds", sec),
            (day_key(day, scope), "minutes", minute),
            (days_key(scope), "days", day),
        ]
    grouped: dict[tuple[str, str], set[str]] = defaultdict(set)
    for key, field, value in parents:
        if f"{key}/{value}" not in already_indexed:
            grouped[(key, field)].add(value)
    updates += [
        UpdateOne({"_id": key}, {"$addToSet": {field: {"$each": sorted(values)}}}, upsert=True)
        for (key, field), values in grouped.items()
    ]
    return updates


def indexed_after(chunks: dict[Second, Document], scope: str = "") -> set[str]:
    """The index entries the updates above have made durable."""
    done = set()
    for day, minute, sec in chunks:
        done |= {
            f"{minute_key(day, minute, scope)}/{sec}",
            f"{day_key(day, scope)}/{minute}",
            f"{days_key(scope)}/{day}",
        }
    return done


def merge(chunks: Sequence[Document]) -> list[OrderView]:
    """A second's orders from all its chunks, newest first, each order once."""
    unique: dict[str, OrderView] = {}
    for chunk in chunks:
        for stored in chunk.get("orders", ()):
            # A dict: a chunk written before entries were compact.
            view = view_from_compact(stored) if isinstance(stored, str) else view_from_entry(stored)
            unique[str(view.id)] = view
    return sorted(unique.values(), key=lambda v: v.position, reverse=True)


def position_second(position: ListPosition) -> Second:
    return second_of(position.created_at)
