"""The read model in MongoDB (db `order-read-db`): one document per order plus the timeline.

Each generation of the read model (`generations.py`) has its own two collections: the first,
"", the `orders` and `timeline` it always had; a rebuilt one `orders_<gen>`, `timeline_<gen>`.

The first page of the whole list, the one read most (and after every projection, uncached),
comes from one document: the timeline's head, the newest `HEAD_SIZE` orders, kept sorted by
each projected batch with one `$push` (`$sort`, `$slice`) in the batch's index write. Walking
the timeline costs a lookup per second that holds orders, which is 50 lookups for a page of
50 when orders come one per second. Deeper pages, and any page the head cannot fill, walk.

Readable by id means listed. A batch is staged, then revealed: its order documents name it
(`batches`) and `get` ignores them until the timeline holds `revealed:<batch>`, written after
the batch is listed (the projection invalidates cached lists in between). One more insert per
batch; a by-id read looks a batch up once per process. Documents stored before batches were
recorded have none, and are readable as they were.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from order_platform.building_blocks.mongo.client import translate_unavailable
from order_platform.read_service.application.ports import (
    Page,
    ParkedChange,
    ReadModelUnavailable,
    Staged,
    StagedChanges,
)
from order_platform.read_service.domain import PLACED, ListPosition, OrderChange, OrderView
from order_platform.read_service.infrastructure.timeline import (
    chunks_of,
    compact_entry,
    customer_scope,
    day_key,
    days_key,
    entry,
    index_updates,
    indexed_after,
    merge,
    minute_key,
    position_second,
    second_key,
    status_scope,
    view_from_compact,
    view_from_entry,
)

Document = dict[str, Any]

DUPLICATE_KEY = 11000
HEAD_KEY = "head"
HEAD_SIZE = 256  # more than the largest page (200), so that a full page knows of a next one
HEAD_SPARE = 16  # read past the page, for orders a redelivered batch pushed twice
REVEALED_KEPT = 100_000  # batches known to be revealed, per process; forgetting costs a lookup


# An order's state that changes with its life; an order stored before it had one is placed, v1.
_LIFE_FIELDS = ("status", "version", "updatedAt", "trackingNumber", "cancellationReason")


def life_fields(view: OrderView) -> Document:
    fields: Document = {"status": view.status, "version": view.version}
    for name, value in (
        ("updatedAt", view.updated_at),
        ("trackingNumber", view.tracking_number),
        ("cancellationReason", view.cancellation_reason),
    ):
        if value is not None:
            fields[name] = value
    return fields


def _living(view: OrderView) -> Document:
    """The update that makes a document live `view`'s life: its fields set, the ones it does
    not have (a cancellation reason after a confirmation, say) and any staged change removed."""
    fields = life_fields(view)
    gone = {name: "" for name in _LIFE_FIELDS if name not in fields}
    return {"$set": fields, "$unset": {"staged": ""} | gone}


def with_life(view: OrderView, fields: Document) -> OrderView:
    """`view` in the state `fields` (a document's, or its staged change's) describes."""
    updated_at = fields.get("updatedAt")
    return replace(
        view,
        status=fields.get("status", PLACED),
        version=fields.get("version", 1),
        updated_at=updated_at.astimezone(UTC) if updated_at is not None else None,
        tracking_number=fields.get("trackingNumber"),
        cancellation_reason=fields.get("cancellationReason"),
    )


def order_document(
    view: OrderView, projected_at: datetime | None = None, batch_id: str | None = None
) -> Document:
    """The order as stored by id: the timeline's entry, keyed by `_id` instead of `id`, with
    its state (`life_fields`), when it was stored (`projectedAt`, shown by the operator
    console) and the batch that makes it readable once revealed. A change staged and not yet
    revealed waits in `staged` (the list shows it, reads by id do not yet)."""
    document = entry(view) | life_fields(view)
    document["_id"] = document.pop("id")
    if projected_at is not None:
        document["projectedAt"] = projected_at
    if batch_id is not None:
        document["batches"] = [batch_id]
    return document


def revealed_key(batch_id: str) -> str:
    return f"revealed:{batch_id}"


def view_from_document(document: Document) -> OrderView:
    return with_life(view_from_entry({**document, "id": document["_id"]}), document)


def listed_state(document: Document) -> Document:
    """What the list shows of an order: its staged change once there is one."""
    staged: Document | None = document.get("staged")
    return staged if staged is not None else document


def collection_names(generation: str) -> tuple[str, str]:
    """The orders and timeline collections of a generation of the read model."""
    if not generation:
        return "orders", "timeline"
    return f"orders_{generation}", f"timeline_{generation}"


def parked_collection_name(generation: str) -> str:
    return "parked" if not generation else f"parked_{generation}"


class ChangedMeanwhile(ReadModelUnavailable):
    """Another projection changed the order between our read and our write (two consumers
    on one partition during a rebalance): nothing was written; the batch is retried."""


class MongoReadModel:
    def __init__(self, database: AsyncDatabase[Document], generation: str = "") -> None:
        orders, timeline = collection_names(generation)
        self._orders = database[orders]
        self._timeline = database[timeline]
        self._parked = database[parked_collection_name(generation)]
        # Index entries this process has made durable: `$addToSet` would change nothing, so
        # a batch skips them. Bounded; forgetting only costs a redundant update.
        self._indexed: set[str] = set()
        self._revealed: set[str] = set()  # batches whose marker this process has seen

    async def apply(self, views: Sequence[OrderView]) -> None:
        await self.reveal(await self.stage(views))

    async def stage(self, views: Sequence[OrderView]) -> Staged:
        batch_id = uuid.uuid4().hex
        first_per_order = list({view.id: view for view in reversed(views)}.values())
        with translate_unavailable(ReadModelUnavailable):
            stored_before = await self._insert_new(first_per_order, batch_id)
            staged = Staged(batch_id, [v for v in first_per_order if v not in stored_before])
            # Already stored: list it only if it is the very event stored (a redelivery after a
            # crash between the two writes); a different event for the same order changes nothing.
            stored = await asyncio.gather(
                *(
                    self._orders.find_one({"_id": str(v.id)}, {"eventId": 1, "batches": 1})
                    for v in stored_before
                )
            )
            again = {
                v.id: doc
                for v, doc in zip(stored_before, stored, strict=True)
                if doc is not None and doc["eventId"] == str(v.event_id)
            }
            conflicting = {v.id for v in stored_before} - again.keys()
            listed = [v for v in first_per_order if v.id not in conflicting]
            if listed:
                await self._list(listed)
            # Listed again but not readable yet (its batch stopped before `reveal`, or is still
            # under way elsewhere): readable with this batch too. A readable one stays as it is.
            documents = list(again.values())
            readable = await asyncio.gather(*map(self._readable, documents))
            hidden = [doc["_id"] for doc, seen in zip(documents, readable, strict=True) if not seen]
            if hidden:
                await self._orders.bulk_write(
                    [
                        UpdateOne({"_id": order_id}, {"$addToSet": {"batches": staged.batch_id}})
                        for order_id in hidden
                    ],
                    ordered=False,
                )
        return staged

    async def reveal(self, staged: Staged) -> None:
        # A duplicate: revealed before, and this is a retry.
        with translate_unavailable(ReadModelUnavailable), suppress(DuplicateKeyError):
            await self._timeline.insert_one({"_id": revealed_key(staged.batch_id)})
        self._remember_revealed(staged.batch_id)

    async def _readable(self, document: Document) -> bool:
        """Whether a batch that listed the order has been revealed."""
        batches: list[str] | None = document.get("batches")
        if batches is None or any(batch in self._revealed for batch in batches):
            return True
        found = await asyncio.gather(
            *(self._timeline.find_one({"_id": revealed_key(b)}, {"_id": 1}) for b in batches)
        )
        revealed = [batch for batch, doc in zip(batches, found, strict=True) if doc is not None]
        for batch in revealed:
            self._remember_revealed(batch)
        return bool(revealed)

    def _remember_revealed(self, batch_id: str) -> None:
        if len(self._revealed) >= REVEALED_KEPT:
            self._revealed.clear()
        self._revealed.add(batch_id)

    async def _insert_new(self, views: list[OrderView], batch_id: str) -> list[OrderView]:
        """Insert the orders (cheaper than upserts); return those that were already there."""
        try:
            now = datetime.now(UTC)
            await self._orders.insert_many(
                [order_document(v, projected_at=now, batch_id=batch_id) for v in views],
                ordered=False,
            )
        except BulkWriteError as error:
            errors = error.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return [views[e["index"]] for e in errors]
        return []

    async def _list(
        self,
        views: list[OrderView],
        scopes: Callable[[OrderView], list[str]] | None = None,
        head: bool = True,
    ) -> None:
        """Into the timelines each view belongs to (by default the whole list and its
        customer's own); chunks first, then the index that points to them, so no index entry
        ever points to a missing chunk; the head of the whole list too when `head`."""
        by_scope: dict[str, list[OrderView]] = {}
        for view in views:
            for scope in (scopes or _creation_scopes)(view):
                by_scope.setdefault(scope, []).append(view)
        chunks = {scope: chunks_of(scoped, scope) for scope, scoped in by_scope.items()}
        await self._timeline.insert_many(
            [chunk for of_scope in chunks.values() for chunk in of_scope.values()], ordered=False
        )
        updates = [
            update
            for scope, of_scope in chunks.items()
            for update in index_updates(of_scope, self._indexed, scope)
        ]
        if head:
            updates.append(
                UpdateOne(
                    {"_id": HEAD_KEY},
                    {
                        "$push": {
                            "recent": {
                                "$each": [compact_entry(view) for view in views],
                                "$sort": -1,  # strings that sort as positions do: newest first
                                "$slice": HEAD_SIZE,
                            }
                        }
                    },
                    upsert=True,
                )
            )
        await self._timeline.bulk_write(updates, ordered=False)
        if len(self._indexed) > 100_000:
            self._indexed.clear()
        for scope, of_scope in chunks.items():
            self._indexed |= indexed_after(of_scope, scope)

    async def stage_changes(
        self, changes: Sequence[OrderChange], release_for: Sequence[UUID] = ()
    ) -> StagedChanges:
        order_ids = list(
            dict.fromkeys([str(c.order_id) for c in changes] + list(map(str, release_for)))
        )
        if not order_ids:
            return StagedChanges([])
        with translate_unavailable(ReadModelUnavailable):
            parked = [
                _change_from_parked(doc)
                async for doc in self._parked.find({"orderId": {"$in": order_ids}})
            ]
            if not parked and not changes:
                return StagedChanges([])  # creations alone, with nothing waiting for them
            documents = {
                doc["_id"]: doc async for doc in self._orders.find({"_id": {"$in": order_ids}})
            }
            candidates: dict[str, dict[UUID, OrderChange]] = {}
            for change in [*parked, *changes]:
                candidates.setdefault(str(change.order_id), {})[change.event_id] = change
            was_parked = {change.event_id for change in parked}
            staged_views: list[OrderView] = []
            to_park: list[tuple[OrderChange, int]] = []
            done_parked: list[UUID] = []
            for order_id, by_event in candidates.items():
                document = documents.get(order_id)
                ordered = sorted(by_event.values(), key=lambda change: change.version)
                if document is None:  # its creation is not here yet
                    to_park += [(change, 1) for change in ordered]
                    continue
                view = with_life(view_from_document(document), listed_state(document))
                changed = "staged" in document  # staged before and never revealed: again
                for change in ordered:
                    if change.version <= view.version:
                        pass  # applied before: a redelivery changes nothing
                    elif change.version == view.version + 1:
                        view, changed = change.applied_to(view), True
                    else:
                        to_park.append((change, view.version + 1))
                        continue
                    if change.event_id in was_parked:
                        done_parked.append(change.event_id)
                if changed:
                    await self._stage_one(document, view)
                    staged_views.append(view)
            # Listed under their new status before they read so by id (as `stage` lists).
            moved = [view for view in staged_views if view.status != PLACED]
            if moved:
                await self._list(moved, scopes=_status_scopes, head=False)
            if to_park:
                await self._parked.bulk_write(
                    [
                        UpdateOne(
                            {"_id": str(change.event_id)},
                            {"$set": _parked_document(change, waiting_for)},
                            upsert=True,
                        )
                        for change, waiting_for in to_park
                    ],
                    ordered=False,
                )
        return StagedChanges(staged_views, done_parked)

    async def _stage_one(self, document: Document, view: OrderView) -> None:
        """A compare-and-set on the state read: the staged change, or the version revealed."""
        if "staged" in document:
            expected: Document = {"staged.version": document["staged"]["version"]}
        else:
            version = document.get("version", 1)
            expected = {"version": {"$in": [1, None]} if version == 1 else version}
            expected["staged"] = {"$exists": False}
        result = await self._orders.update_one(
            {"_id": document["_id"], **expected}, {"$set": {"staged": life_fields(view)}}
        )
        if not result.matched_count:
            raise ChangedMeanwhile(f"order {document['_id']} changed while being projected")

    async def reveal_changes(self, staged: StagedChanges) -> None:
        with translate_unavailable(ReadModelUnavailable):
            if staged.views:
                await self._reveal_changed(staged.views)
            if staged.released:
                released = [str(event_id) for event_id in staged.released]
                await self._parked.delete_many({"_id": {"$in": released}})

    async def _reveal_changed(self, views: Sequence[OrderView]) -> None:
        await self._orders.bulk_write(
            [
                UpdateOne({"_id": str(view.id), "staged.version": view.version}, _living(view))
                for view in views
            ],
            ordered=False,
        )

    async def catch_up(self, views: Sequence[OrderView]) -> None:
        behind = [view for view in views if view.version > 1]
        if not behind:
            return
        with translate_unavailable(ReadModelUnavailable):
            await self._orders.bulk_write(
                [
                    UpdateOne(
                        {
                            "_id": str(view.id),
                            "$or": [
                                {"version": {"$lt": view.version}},
                                {"version": {"$exists": False}},
                            ],
                            "staged.version": {"$not": {"$gte": view.version}},
                        },
                        _living(view),
                    )
                    for view in behind
                ],
                ordered=False,
            )
            await self._list(behind, scopes=_status_scopes, head=False)

    async def parked(self, limit: int | None = None) -> list[ParkedChange]:
        found = self._parked.find({})
        if limit is not None:
            found = found.sort([("orderId", 1), ("version", 1)]).limit(limit)
        with translate_unavailable(ReadModelUnavailable):
            return [
                ParkedChange(_change_from_parked(doc), doc["waitingFor"]) async for doc in found
            ]

    async def parked_of(self, order_ids: Sequence[UUID]) -> list[ParkedChange]:
        found = self._parked.find({"orderId": {"$in": [str(order) for order in order_ids]}})
        with translate_unavailable(ReadModelUnavailable):
            parked = [
                ParkedChange(_change_from_parked(doc), doc["waitingFor"]) async for doc in found
            ]
        return sorted(parked, key=lambda p: (str(p.change.order_id), p.change.version))

    async def get(self, order_id: UUID) -> OrderView | None:
        document = await self._readable_document(order_id)
        return None if document is None else view_from_document(document)

    async def projected(self, order_id: UUID) -> tuple[OrderView, datetime | None] | None:
        document = await self._readable_document(order_id)
        if document is None:
            return None
        at = document.get("projectedAt")
        return view_from_document(document), at.astimezone(UTC) if at is not None else None

    async def _readable_document(self, order_id: UUID) -> Document | None:
        with translate_unavailable(ReadModelUnavailable):
            document = await self._orders.find_one({"_id": str(order_id)})
            if document is None or not await self._readable(document):
                return None
        return document

    async def page(
        self,
        limit: int,
        after: ListPosition | None,
        owner: str | None = None,
        status: str | None = None,
    ) -> Page:
        with translate_unavailable(ReadModelUnavailable):
            if status is None:
                return await self._current(await self._listed(limit, after, owner))
            return await self._in_status(limit, after, owner, status)

    async def _in_status(
        self, limit: int, after: ListPosition | None, owner: str | None, status: str
    ) -> Page:
        """The orders now in `status`: a walk of the timeline of those that reached it (of
        every order, for `placed`), each second's orders in their current state, filtered."""
        if status == PLACED:
            scope = "" if owner is None else customer_scope(owner)
        else:
            scope = status_scope(status, owner)
        collected: list[OrderView] = []
        async for views in self._seconds_from(after, scope):
            if after is not None:
                views = [view for view in views if view.position < after]
            current = await self._current(Page(views, None))
            collected.extend(view for view in current.orders if view.status == status)
            if len(collected) > limit:
                return Page(collected[:limit], collected[limit - 1].position)
        return Page(collected, None)

    async def _listed(self, limit: int, after: ListPosition | None, owner: str | None) -> Page:
        """The page as the timeline lists it: each order as it was created."""
        collected: list[OrderView] = []
        scope = "" if owner is None else customer_scope(owner)
        if after is None and owner is None and (head := await self._head(limit)) is not None:
            return head
        async for views in self._seconds_from(after, scope):
            if after is not None:
                views = [view for view in views if view.position < after]
            collected.extend(views)
            if len(collected) > limit:
                return Page(collected[:limit], collected[limit - 1].position)
        return Page(collected, None)

    async def _current(self, page: Page) -> Page:
        """Each listed order in its current state (the timeline keeps where it stands, not
        how it is): one lookup by `_id` for the page."""
        if not page.orders:
            return page
        states = {
            doc["_id"]: listed_state(doc)
            async for doc in self._orders.find(
                {"_id": {"$in": [str(view.id) for view in page.orders]}},
                dict.fromkeys([*_LIFE_FIELDS, "staged"], 1),
            )
        }
        return Page(
            [
                with_life(view, states[str(view.id)]) if str(view.id) in states else view
                for view in page.orders
            ],
            page.next_after,
        )

    async def _seconds_from(
        self, after: ListPosition | None, scope: str
    ) -> AsyncIterator[list[OrderView]]:
        """Each second's orders, from the newest second down to the one that holds `after`,
        in the timeline of `scope` (the whole list, or one customer's)."""
        start = position_second(after) if after is not None else None
        for day in sorted(await self._names(days_key(scope), "days"), reverse=True):
            if start and day > start[0]:
                continue
            for minute in sorted(await self._names(day_key(day, scope), "minutes"), reverse=True):
                if start and (day, minute) > start[:2]:
                    continue
                seconds = await self._names(minute_key(day, minute, scope), "seconds")
                for sec in sorted(seconds, reverse=True):
                    if start and (day, minute, sec) > start:
                        continue
                    chunk_ids = await self._names(second_key((day, minute, sec), scope), "chunks")
                    chunks = await asyncio.gather(
                        *(self._timeline.find_one({"_id": chunk_id}) for chunk_id in chunk_ids)
                    )
                    yield merge([chunk for chunk in chunks if chunk])

    async def _head(self, limit: int) -> Page | None:
        """The first page from the head, if the head holds more than `limit` orders."""
        # Only what the page needs (and a few spare for duplicates) crosses the wire.
        wanted = {"recent": {"$slice": limit + HEAD_SPARE}}
        document = await self._timeline.find_one({"_id": HEAD_KEY}, wanted)
        if document is None:
            return None
        # A redelivered batch may have pushed an order twice: listed once, as in `merge`.
        unique = {view.id: view for view in map(view_from_compact, document["recent"])}
        views = sorted(unique.values(), key=lambda view: view.position, reverse=True)
        if len(views) <= limit:
            return None  # cannot tell whether more follow: the walk can
        return Page(views[:limit], views[limit - 1].position)

    async def _names(self, key: str, field: str) -> list[str]:
        document = await self._timeline.find_one({"_id": key}, {field: 1})
        return list(document.get(field, [])) if document else []


def _parked_document(change: OrderChange, waiting_for: int) -> Document:
    document: Document = {
        "orderId": str(change.order_id),
        "version": change.version,
        "status": change.status,
        "at": change.at,
        "waitingFor": waiting_for,
    }
    if change.tracking_number is not None:
        document["trackingNumber"] = change.tracking_number
    if change.cancellation_reason is not None:
        document["cancellationReason"] = change.cancellation_reason
    return document


def _change_from_parked(document: Document) -> OrderChange:
    return OrderChange(
        event_id=UUID(document["_id"]),
        order_id=UUID(document["orderId"]),
        version=document["version"],
        status=document["status"],
        at=document["at"].astimezone(UTC),
        tracking_number=document.get("trackingNumber"),
        cancellation_reason=document.get("cancellationReason"),
    )


def _creation_scopes(view: OrderView) -> list[str]:
    """Where a new order is listed: the whole list, and its customer's."""
    if view.customer_id is None:
        return [""]
    return ["", customer_scope(view.customer_id)]


def _status_scopes(view: OrderView) -> list[str]:
    """Where an order that reached its status is listed too: that status's timeline, and its
    customer's of that status."""
    scopes = [status_scope(view.status)]
    if view.customer_id is not None:
        scopes.append(status_scope(view.status, view.customer_id))
    return scopes
