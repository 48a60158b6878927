"""What an operator is told of an event a consumer parked (it skips a version of its order, so
it waits for the missing one): one record whichever service parked it, for
`order-platform dlq list` and its `--json` lines (`"kind": "parked"`, `waitingFor`).

The services build it from their own stores (the read model's parked collection, the
notifier's order progress in Redis); the command prints it. Parked is not dead: it is
released by itself as soon as the version it waits for is applied (redriven or late).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from order_platform.contracts.errors import Unavailable

KIND = "parked"


@dataclass(frozen=True, slots=True)
class ParkedEvent:
    order_id: UUID
    version: int  # the event's orderVersion
    waiting_for: int  # the version the order needs first
    event_id: UUID | None = None
    event_type: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "kind": KIND,
            "orderId": str(self.order_id),
            "eventId": None if self.event_id is None else str(self.event_id),
            "eventType": self.event_type,
            "version": self.version,
            "waitingFor": self.waiting_for,
        }


@dataclass(frozen=True, slots=True)
class ParkedListing:
    """At most the asked number of parked events, by order id and version; `complete` is
    False when the listing stopped at its bound and there may be more."""

    events: Sequence[ParkedEvent]
    complete: bool


class ParkedStoreUnavailable(Unavailable):
    """The store of parked events did not answer: the message says which, in one sentence."""


class ParkedEvents(Protocol):
    """One consumer group's parked events, read-only, from the store its service keeps them in."""

    @property
    def where(self) -> str:
        """The store, for messages (e.g. `MongoDB at host:27017, db order-read-db`)."""
        ...

    async def parked(self, limit: int) -> ParkedListing:
        """Raises `ParkedStoreUnavailable`."""
        ...

    async def close(self) -> None: ...
