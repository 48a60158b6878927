"""The write model in MongoDB: one document per order, its pending event inside it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

import pymongo
import structlog
from bson.decimal128 import Decimal128
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import (
    ConnectionFailure,
    DuplicateKeyError,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)

from order_platform.building_blocks.mongo.client import translate_unavailable
from order_platform.order_service.application.ports import (
    OrderAlreadyExists,
    OrderChangedMeanwhile,
    StorageUnavailable,
    StoredOrder,
    WriteOutcomeUnknown,
)
from order_platform.order_service.domain import Order, OrderStatus
from order_platform.order_service.outbox.entry import (
    FENCED_FIELD,
    LEASE_FIELD,
    OWNER_FIELD,
    PENDING_FIELD,
    OutboxEntry,
)

log = structlog.get_logger(__name__)

Document = dict[str, Any]

# Errors raised before the insert left this process: nothing can have been stored.
NOT_SENT_ERRORS = (ServerSelectionTimeoutError, WaitQueueTimeoutError)
# After a lost reply, how long to spend asking whether the insert landed.
READ_BACK_SECONDS = 1.0
# The ids of the transitions' events an order recorded (the creation's is `outbox.eventId`).
TRANSITIONS_FIELD = "transitionEventIds"


# Optional fields of an order's document, by attribute: absent while unset, never null.
_OPTIONAL_FIELDS = {
    "customer_id": "customerId",
    "updated_at": "updatedAt",
    "tracking_number": "trackingNumber",
    "cancellation_reason": "cancellationReason",
}


def order_document(order: Order, outbox: OutboxEntry | None) -> Document:
    document: Document = {
        "_id": str(order.id),
        "customerName": order.customer_name,
        "totalAmount": Decimal128(order.total_amount),
        "createdAt": order.created_at,
        "status": order.status.value,
        "version": order.version,
    }
    for attribute, name in _OPTIONAL_FIELDS.items():
        if (value := getattr(order, attribute)) is not None:
            document[name] = value
    if outbox is not None:
        document["outbox"] = outbox.to_document()
    return document


def order_from_document(document: Document) -> Order:
    """An order as stored; one stored before orders had a life is placed, version 1."""
    return Order(
        id=UUID(document["_id"]),
        customer_name=document["customerName"],
        total_amount=document["totalAmount"].to_decimal(),
        created_at=document["createdAt"],
        customer_id=document.get("customerId"),
        status=OrderStatus(document.get("status", OrderStatus.PLACED)),
        version=document.get("version", 1),
        updated_at=document.get("updatedAt"),
        tracking_number=document.get("trackingNumber"),
        cancellation_reason=document.get("cancellationReason"),
    )


class MongoOrderRepository:
    def __init__(self, orders: AsyncCollection[Document]) -> None:
        self._orders = orders
        self.added: list[Order] = []
        self.updated: list[Order] = []

    def add(self, order: Order) -> None:
        self.added.append(order)

    def update(self, order: Order) -> None:
        self.updated.append(order)

    async def has_event(self, order_id: UUID, event_id: UUID) -> bool:
        with translate_unavailable(StorageUnavailable):
            found = await self._orders.find_one(
                {
                    "_id": str(order_id),
                    "$or": [{"outbox.eventId": str(event_id)}, {TRANSITIONS_FIELD: str(event_id)}],
                },
                {"_id": 1},
            )
        return found is not None

    async def get(self, order_id: UUID) -> Order | None:
        with translate_unavailable(StorageUnavailable):
            document = await self._orders.find_one({"_id": str(order_id)}, {"outbox": 0})
        if document is None or FENCED_FIELD in document:
            return None
        return order_from_document(document)


class OutboxHandoff(Protocol):
    """What the unit of work needs from the outbox (`OutboxRelay`): an entry to store with each
    new order, and how its insert ended. Every entry it asks for ends in exactly one of the
    three: committed, outcome unknown, or not stored."""

    async def new_entry(self, order: Order) -> OutboxEntry: ...

    def committed(self, entries: Sequence[OutboxEntry]) -> None: ...

    def outcome_unknown(self, entries: Sequence[OutboxEntry]) -> None: ...

    def not_stored(self, entries: Sequence[OutboxEntry]) -> None: ...

    def queued(self, entries: Sequence[OutboxEntry]) -> None: ...


class MongoUnitOfWork:
    """Commits by writing each new order and its outbox entry as one document, and tells the
    outbox how each insert ended."""

    def __init__(self, orders: AsyncCollection[Document], *, outbox: OutboxHandoff) -> None:
        self._collection = orders
        self._outbox = outbox
        self.orders = MongoOrderRepository(orders)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.orders.added.clear()
        self.orders.updated.clear()

    async def commit(self) -> None:
        new_orders, self.orders.added = self.orders.added, []
        changed, self.orders.updated = self.orders.updated, []
        for order in changed:
            await self._transition(order)
        if not new_orders:
            return
        # Each order is atomic with its own event; no use case commits two orders at once.
        committed: list[OutboxEntry] = []
        try:
            for order in new_orders:
                entry = await self._outbox.new_entry(order)
                await self._insert(order, entry)
                committed.append(entry)
        finally:
            if committed:
                self._outbox.committed(committed)

    async def _insert(self, order: Order, entry: OutboxEntry) -> None:
        try:
            await self._collection.insert_one(order_document(order, entry))
        except DuplicateKeyError as error:
            if not await self._replace_fence(order, entry):
                self._outbox.not_stored([entry])
                raise OrderAlreadyExists(str(order.id)) from error
        except NOT_SENT_ERRORS as error:
            self._outbox.not_stored([entry])
            raise StorageUnavailable(str(error)) from error
        except PyMongoError as error:
            if not isinstance(error, ConnectionFailure) and not error.timeout:
                self._outbox.not_stored([entry])  # the server refused it
                raise
            # Slow is not down: the insert may have been applied, its reply lost or late.
            await self._settle_unknown_outcome(order, entry, error)
        except BaseException:  # e.g. cancelled mid-insert: it may have been applied
            self._outbox.outcome_unknown([entry])
            raise

    async def _transition(self, order: Order) -> None:
        """Store `order`'s one new transition and queue its event in the document's outbox:
        one write, a compare-and-set on the version it was read at.

        With no lease on the document (its earlier events are published), the write takes
        the lease for this relay, which publishes the event at once. With a lease (a relay is
        publishing an earlier event of the order), the event is queued behind it: that relay
        finds it when it marks what it published, or a sweep does once its lease runs out.
        """
        entry = await self._outbox.new_entry(order)
        read_at = order.version - 1
        changes = _transition_changes(order)
        for _ in range(4):  # the lease comes or goes in between: try the other form
            document = await self._read_state(order.id)
            if document is None or document.get("version", 1) != read_at:
                self._outbox.not_stored([entry])
                raise OrderChangedMeanwhile(order.id, _version_of(document))
            leased = "leaseUntil" in document.get("outbox", {})
            lease = (
                {} if leased else {OWNER_FIELD: entry.lease_owner, LEASE_FIELD: entry.lease_until}
            )
            try:
                result = await self._collection.update_one(
                    {
                        "_id": str(order.id),
                        "version": {"$in": [read_at, None]} if read_at == 1 else read_at,
                        LEASE_FIELD: {"$exists": leased},
                    },
                    {
                        "$set": {**changes, **lease},
                        "$push": {
                            PENDING_FIELD: entry.event_document(),
                            TRANSITIONS_FIELD: entry.event_id,
                        },
                    },
                )
            except NOT_SENT_ERRORS as error:
                self._outbox.not_stored([entry])
                raise StorageUnavailable(str(error)) from error
            except PyMongoError as error:
                if not isinstance(error, ConnectionFailure) and not error.timeout:
                    self._outbox.not_stored([entry])
                    raise
                await self._settle_unknown_transition(order, entry, leased, error)
                return
            except BaseException:
                self._handed_off_unknown(entry, leased)
                raise
            if result.matched_count:
                if leased:
                    self._outbox.queued([entry])
                else:
                    self._outbox.committed([entry])
                return
        self._outbox.not_stored([entry])
        raise OrderChangedMeanwhile(order.id, None)

    async def _read_state(self, order_id: UUID) -> Document | None:
        with translate_unavailable(StorageUnavailable):
            document = await self._collection.find_one(
                {"_id": str(order_id)}, {"version": 1, LEASE_FIELD: 1, FENCED_FIELD: 1}
            )
        return None if document is None or FENCED_FIELD in document else document

    def _handed_off_unknown(self, entry: OutboxEntry, leased: bool) -> None:
        if leased:
            self._outbox.queued([entry])  # not ours to look for: the lease's holder finds it
        else:
            self._outbox.outcome_unknown([entry])

    async def _settle_unknown_transition(
        self, order: Order, entry: OutboxEntry, leased: bool, error: PyMongoError
    ) -> None:
        """As for an insert: read it back, and never say "not stored" unless it surely is not."""
        try:
            with pymongo.timeout(READ_BACK_SECONDS):
                stored = await self._collection.find_one(
                    {"_id": str(order.id)}, {"version": 1, TRANSITIONS_FIELD: 1, OWNER_FIELD: 1}
                )
        except PyMongoError:
            stored = None
        if stored is not None:
            if entry.event_id in stored.get(TRANSITIONS_FIELD, []):
                # Its event id landed, but perhaps by a retry under the same Idempotency-Key
                # (another version): under our lease the relay publishes it as stored.
                ours = stored.get("outbox", {}).get("leaseOwner") == entry.lease_owner
                if not leased and ours:
                    self._outbox.outcome_unknown([entry])
                else:
                    self._outbox.queued([entry])
                return  # landed
            if stored.get("version", 1) != order.version - 1:
                self._outbox.not_stored([entry])  # another change won: ours can never land
                raise OrderChangedMeanwhile(order.id, _version_of(stored))
        log.warning("order_write_outcome_unknown", order_id=str(order.id), error=str(error))
        self._handed_off_unknown(entry, leased)
        raise WriteOutcomeUnknown(str(error)) from error

    async def _replace_fence(self, order: Order, entry: OutboxEntry) -> bool:
        """A retry of a request whose first insert an earlier version fenced off (see
        `FENCED_FIELD`) stores the order in the fence's place."""
        try:
            result = await self._collection.replace_one(
                {"_id": str(order.id), FENCED_FIELD: {"$exists": True}},
                order_document(order, entry),
            )
        except PyMongoError as error:
            self._outbox.outcome_unknown([entry])
            raise WriteOutcomeUnknown(str(error)) from error
        return result.matched_count == 1

    async def _settle_unknown_outcome(
        self, order: Order, entry: OutboxEntry, error: PyMongoError
    ) -> None:
        """Read the order back; if that cannot tell either, hand the entry to the relay to
        look for, and say the outcome is unknown (never "nothing was stored")."""
        try:
            with pymongo.timeout(READ_BACK_SECONDS):
                stored = await self._collection.find_one(
                    {"_id": str(order.id)}, {"outbox.eventId": 1}
                )
        except PyMongoError:
            stored = None
        if stored is not None:
            if stored.get("outbox", {}).get("eventId") == entry.event_id:
                return  # ours landed: committed after all
            self._outbox.not_stored([entry])
            raise OrderAlreadyExists(str(order.id))  # stored by another attempt
        log.warning("order_write_outcome_unknown", order_id=str(order.id), error=str(error))
        self._outbox.outcome_unknown([entry])
        raise WriteOutcomeUnknown(str(error)) from error


def _transition_changes(order: Order) -> Document:
    changes: Document = {"status": order.status.value, "version": order.version}
    for attribute, name in _OPTIONAL_FIELDS.items():
        if attribute != "customer_id" and (value := getattr(order, attribute)) is not None:
            changes[name] = value
    return changes


def _version_of(document: Document | None) -> int | None:
    return None if document is None else int(document.get("version", 1))


class MongoStoredOrders:
    """The export of every stored order (`StoredOrders`), as one cursor in `_id` order.

    One query for the whole export, never a query per page: the embedded server answers any
    `find().sort()` with a scan and sort of the whole collection, with or without a range
    filter on `_id`, so paging by `_id > after` would cost a full scan per page (quadratic
    in the number of orders), while one cursor costs one scan. On a real MongoDB the same
    query walks the `_id` index. Each batch gets the client's per-operation timeout anew.
    """

    def __init__(self, orders: AsyncCollection[Document], *, timeout_seconds: float) -> None:
        self._orders = orders
        self._timeout = timeout_seconds

    async def estimated_count(self) -> int:
        with translate_unavailable(StorageUnavailable):
            return await self._orders.estimated_document_count()

    async def export(
        self, *, after: UUID | None, batch_size: int
    ) -> AsyncIterator[Sequence[StoredOrder]]:
        query: Document = {} if after is None else {"_id": {"$gt": str(after)}}
        projection = {
            "customerName": 1,
            "totalAmount": 1,
            "createdAt": 1,
            "customerId": 1,
            "status": 1,
            "version": 1,
            "updatedAt": 1,
            "trackingNumber": 1,
            "cancellationReason": 1,
            "outbox.eventId": 1,
            FENCED_FIELD: 1,
        }
        with translate_unavailable(StorageUnavailable):
            cursor = self._orders.find(query, projection, batch_size=batch_size).sort("_id", 1)
            try:
                while True:
                    with pymongo.timeout(self._timeout):
                        documents = await cursor.to_list(batch_size)
                    if not documents:
                        return
                    if batch := [_stored(doc) for doc in documents if FENCED_FIELD not in doc]:
                        yield batch
            finally:
                await cursor.close()


def _stored(document: Document) -> StoredOrder:
    event_id = document.get("outbox", {}).get("eventId")
    return StoredOrder(order_from_document(document), None if event_id is None else UUID(event_id))
