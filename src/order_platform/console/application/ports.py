"""What the console needs from the outside world: the services' scrapes and internal
answers, the topic, and the dead-letter topics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from order_platform.console.domain.rates import SeriesKey
from order_platform.contracts.errors import Conflict, Unavailable


class ServiceUnavailable(Unavailable):
    """A service did not answer in time, or refused: the message says which.

    The ports below raise any `Unavailable` (Kafka's comes from the operations code)."""


class RedriveBusy(Conflict):
    """Another redrive of the group is under way (here, or elsewhere holding its lease):
    nothing was sent; the message says who."""


@dataclass(frozen=True, slots=True)
class Scrape:
    """One replica's `/metrics` and `/health/ready`, at `at` (monotonic seconds)."""

    url: str
    at: float
    counters: dict[SeriesKey, float] = field(default_factory=dict)
    gauges: dict[SeriesKey, float] = field(default_factory=dict)
    ready: bool | None = None  # None: no answer at all
    checks: dict[str, str] = field(default_factory=dict)
    error: str | None = None  # why it is unavailable


class ServiceProbe(Protocol):
    async def scrape(self, url: str) -> Scrape:
        """Never raises: an unreachable replica is a `Scrape` with `error`."""
        ...


@dataclass(frozen=True, slots=True)
class SeenOrder:
    """An `OrderCreated` as read from the topic; `published_at` is the record's timestamp."""

    order_id: UUID
    event_id: UUID
    correlation_id: str | None
    customer_name: str
    total_amount: str
    created_at: datetime
    published_at: datetime
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class SeenEvent:
    """Any event of an order as read from the topic; `published_at` is the record's timestamp,
    `occurred_at` the write model's (createdAt for a creation)."""

    order_id: UUID
    event_id: UUID
    event_type: str
    version: int
    occurred_at: datetime
    published_at: datetime


class OrderStream(Protocol):
    """The latest orders on the topic (a bounded window)."""

    def recent(self, limit: int) -> list[SeenOrder]:
        """Newest first."""
        ...

    def find(self, order_or_correlation_id: str) -> SeenOrder | None: ...

    def events(self, order_id: UUID) -> list[SeenEvent]:
        """The order's events in the window, by version (the first publish of each)."""
        ...

    @property
    def status(self) -> str | None:
        """None while reading the topic; why not otherwise."""
        ...


@dataclass(frozen=True, slots=True)
class Projection:
    projected_at: datetime | None
    created_at: datetime
    event_id: UUID
    version: int | None = None  # the order's version in the read model; None: not said


@dataclass(frozen=True, slots=True)
class ProjectedEvents:
    """The order's version in the read model (None: not projected, or not said) and the events
    the read side parked, by event id."""

    version: int | None = None
    parked: dict[UUID, Parked] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Parked:
    """An event a consumer holds until version `waiting_for` of its order is applied."""

    event_id: UUID
    version: int
    waiting_for: int


class HopSources(Protocol):
    """The services' own record of an order's hops (`/internal` endpoints)."""

    async def projections(self, order_ids: Sequence[UUID]) -> dict[UUID, Projection]:
        """Raises `Unavailable`."""
        ...

    async def notifications(self, event_ids: Sequence[UUID]) -> dict[UUID, datetime]:
        """Raises `Unavailable`."""
        ...

    async def projected_events(self, order_id: UUID) -> ProjectedEvents:
        """How far the read side got with the order; raises `Unavailable`."""
        ...

    async def parked_notifications(self, order_id: UUID) -> dict[UUID, Parked]:
        """The notifier's parked events of the order; raises `Unavailable`."""
        ...


@dataclass(frozen=True, slots=True)
class DeadLetterSummary:
    group: str
    partition: int
    offset: int
    at: datetime
    error: str
    order_id: str | None  # the message key
    redrive_count: int

    @property
    def coordinates(self) -> str:
        return f"{self.partition}:{self.offset}"


@dataclass(frozen=True, slots=True)
class RedriveOutcome:
    sent: list[str]  # coordinates
    skipped: list[tuple[str, str]]  # coordinates, why


class DeadLetterDesk(Protocol):
    async def letters(self, group: str) -> list[DeadLetterSummary]:
        """Oldest first; raises `Unavailable`."""
        ...

    async def redrive(self, group: str, chosen: Sequence[tuple[int, int]] | None) -> RedriveOutcome:
        """`order-platform dlq replay` (`--all` when `chosen` is None); raises `Unavailable`,
        and `RedriveBusy` while another redrive of the group holds its lease."""
        ...
