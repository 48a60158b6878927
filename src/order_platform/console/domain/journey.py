"""Where an order is: each of its events with four hops, each reached (with its time where
known), pending, parked (it waits for a missing version of its order) or failed.

accepted (the write model has it) -> published (the broker has the event) -> projected
(readable) and notified, the last two in parallel after publishing. A hop's latency is
measured from the hop it follows: published from accepted, projected and notified from
published.

Each hop is stamped by another clock (see `CLOCKS`), so a difference between two of them is
a latency plus whatever the clocks disagree by. A hop cannot happen before the hop it
follows: a negative difference is no latency at all but a lower bound of the clocks'
disagreement, shown as such (`skew_ms`), never as a negative time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

# Who stamped each hop's time.
CLOCKS = {
    "accepted": "order service (the order's createdAt, or the event's occurredAt)",
    "published": "Kafka record timestamp (the relay's clock, or the broker's)",
    "projected": "read service",
    "notified": "notification worker",
}


class HopState(StrEnum):
    REACHED = "reached"
    PENDING = "pending"
    PARKED = "parked"  # the consumer holds it until the version it waits for is applied
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Hop:
    name: str
    state: HopState
    at: datetime | None = None
    latency_ms: float | None = None  # since the hop it follows, when both are reached
    error: str | None = None
    # The hop's clock reads this much earlier than the previous hop's: no latency to show.
    skew_ms: float | None = None
    waiting_for: int | None = None  # parked: the version of the order it waits for

    @property
    def clock(self) -> str:
        return CLOCKS[self.name]


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What the services and the topic say about one order; None where they say nothing."""

    order_id: UUID
    accepted_at: datetime | None = None
    published_at: datetime | None = None
    projected_at: datetime | None = None
    notified_at: datetime | None = None
    projection_error: str | None = None  # the read side's dead letter, if any
    notification_error: str | None = None  # the worker's dead letter, if any


def journey(facts: OrderFacts) -> list[Hop]:
    accepted = _hop("accepted", facts.accepted_at, None, None)
    published = _hop("published", facts.published_at, facts.accepted_at, None)
    projected = _hop("projected", facts.projected_at, facts.published_at, facts.projection_error)
    notified = _hop("notified", facts.notified_at, facts.published_at, facts.notification_error)
    return [accepted, published, projected, notified]


@dataclass(frozen=True, slots=True)
class ConsumerSide:
    """What one consumer (the projection, the notifier) says of one event."""

    at: datetime | None = None  # when it was applied, where the consumer records it
    applied: bool = False  # applied, time unknown (e.g. the read model is past its version)
    waiting_for: int | None = None  # parked, waiting for this version
    error: str | None = None  # its dead letter


@dataclass(frozen=True, slots=True)
class EventFacts:
    """One event of an order (created, confirmed, shipped, cancelled) and its hops."""

    version: int
    event_type: str | None  # None: known only as parked by a consumer
    event_id: UUID | None
    stored_at: datetime | None = None  # the write model's createdAt or the event's occurredAt
    published_at: datetime | None = None
    projected: ConsumerSide = ConsumerSide()
    notified: ConsumerSide = ConsumerSide()


def event_journey(facts: EventFacts) -> list[Hop]:
    accepted = _hop("accepted", facts.stored_at, None, None)
    if facts.published_at is None and (facts.projected.applied or facts.notified.applied):
        published = Hop("published", HopState.REACHED)  # consumed, so published: time unknown
    else:
        published = _hop("published", facts.published_at, facts.stored_at, None)
    return [
        accepted,
        published,
        _consumed("projected", facts.projected, facts.published_at),
        _consumed("notified", facts.notified, facts.published_at),
    ]


def _consumed(name: str, side: ConsumerSide, published_at: datetime | None) -> Hop:
    if side.at is not None or side.error is not None:
        return _hop(name, side.at, published_at, side.error)
    if side.applied:
        return Hop(name, HopState.REACHED)
    if side.waiting_for is not None:
        return Hop(name, HopState.PARKED, waiting_for=side.waiting_for)
    return Hop(name, HopState.PENDING)


def end_to_end_ms(facts: OrderFacts) -> float | None:
    """From accepted to the last of projected and notified; None until both are reached, and
    None when the clocks disagree so much that it would be negative."""
    span = _end_to_end(facts)
    return span if span is not None and span >= 0 else None


def end_to_end_skew_ms(facts: OrderFacts) -> float | None:
    """How far the last hop's clock reads before createdAt, when it does."""
    span = _end_to_end(facts)
    return -span if span is not None and span < 0 else None


def _end_to_end(facts: OrderFacts) -> float | None:
    if facts.accepted_at is None or facts.projected_at is None or facts.notified_at is None:
        return None
    return _ms(max(facts.projected_at, facts.notified_at) - facts.accepted_at)


def _hop(name: str, at: datetime | None, previous: datetime | None, error: str | None) -> Hop:
    if at is not None:
        if previous is None:
            return Hop(name, HopState.REACHED, at)
        span = _ms(at - previous)
        if span < 0:
            return Hop(name, HopState.REACHED, at, skew_ms=-span)
        return Hop(name, HopState.REACHED, at, span)
    if error is not None:
        return Hop(name, HopState.FAILED, error=error)
    return Hop(name, HopState.PENDING)


def _ms(delta: timedelta) -> float:
    return round(delta.total_seconds() * 1000, 1)
