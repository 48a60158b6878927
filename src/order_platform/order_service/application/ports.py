"""What the application needs from the outside world, as small Protocols."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from order_platform.contracts.errors import Conflict, OutcomeUnknown, Unavailable
from order_platform.order_service.domain import Order


class StorageUnavailable(Unavailable):
    """The write model cannot be reached; nothing was written. Worth a retry later."""


class WriteOutcomeUnknown(OutcomeUnknown):
    """The write was sent but no answer came in time: it may or may not be stored.

    Never report such an order as "not stored", and never give its Idempotency-Key back: a
    retry with the same key must find the order if the write landed after all.
    """


class OrderAlreadyExists(Conflict):
    """An order with this id is already stored (two attempts raced for one idempotency key)."""


class OrderChangedMeanwhile(Conflict):
    """Another change of the order was stored after it was read (its version moved on):
    nothing was written. `current_version` is the stored one, when known."""

    problem = "order-changed-meanwhile"

    def __init__(self, order_id: UUID, current_version: int | None) -> None:
        super().__init__(f"order {order_id} changed meanwhile (now version {current_version})")
        self.order_id = order_id
        self.current_version = current_version


class Clock(Protocol):
    def now(self) -> datetime: ...


class IdFactory(Protocol):
    def __call__(self) -> UUID: ...


class OrderRepository(Protocol):
    def add(self, order: Order) -> None:
        """Store this new order and its `OrderCreated` on commit."""
        ...

    def update(self, order: Order) -> None:
        """Store the one transition `order` recorded since it was read, with its event, on
        commit: a compare-and-set on the version it was read at (`OrderChangedMeanwhile`)."""
        ...

    async def get(self, order_id: UUID) -> Order | None: ...

    async def has_event(self, order_id: UUID, event_id: UUID) -> bool:
        """Whether the stored order recorded this event (an idempotent retry's question:
        did my first attempt's transition land?)."""
        ...


class UnitOfWork(Protocol):
    """One atomic write: the orders added and the events they recorded, or nothing."""

    @property
    def orders(self) -> OrderRepository: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


@dataclass(frozen=True, slots=True)
class KeyClaim:
    """Who holds an idempotency key: the request's fingerprint and the order id it reserved."""

    fingerprint: str
    order_id: UUID
    claimed_at: datetime


class IdempotencyKeys(Protocol):
    async def claim(self, key: str, claim: KeyClaim) -> KeyClaim:
        """Store `claim` unless the key is taken; return whichever claim holds the key now."""
        ...

    async def release(self, key: str, claim: KeyClaim) -> None:
        """Give the key back after a failed attempt, if `claim` still holds it."""
        ...


@dataclass(frozen=True, slots=True)
class StoredOrder:
    """An order as the write model holds it, with its `OrderCreated` event's id (None for an
    order whose entry an earlier version removed once published)."""

    order: Order
    event_id: UUID | None


class StoredOrders(Protocol):
    """Every stored order, for operators (the read model's rebuild), in order of id."""

    def export(
        self, *, after: UUID | None, batch_size: int
    ) -> AsyncIterator[Sequence[StoredOrder]]:
        """Batches of the orders whose id sorts above `after`, until there are none.

        Raises `StorageUnavailable` when the store cannot be reached."""
        ...

    async def estimated_count(self) -> int:
        """About how many orders are stored (for progress reports, not for correctness)."""
        ...
