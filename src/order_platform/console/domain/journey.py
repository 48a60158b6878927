"""Where an order is: its four hops, each reached (with its time), pending or failed.

accepted (the write model has it) -> published (the broker has the event) -> projected
(readable) and notified, the last two in parallel after publishing. A hop's latency is
measured from the hop it follows: published from accepted, projected and notified from
published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID


class HopState(StrEnum):
    REACHED = "reached"
    PENDING = "pending"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Hop:
    name: str
    state: HopState
    at: datetime | None = None
    latency_ms: float | None = None  # since the hop it follows, when both are reached
    error: str | None = None


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


def end_to_end_ms(facts: OrderFacts) -> float | None:
    """From accepted to the last of projected and notified; None until both are reached."""
    if facts.accepted_at is None or facts.projected_at is None or facts.notified_at is None:
        return None
    return _ms(max(facts.projected_at, facts.notified_at) - facts.accepted_at)


def _hop(name: str, at: datetime | None, previous: datetime | None, error: str | None) -> Hop:
    if at is not None:
        latency = _ms(at - previous) if previous is not None else None
        return Hop(name, HopState.REACHED, at, latency)
    if error is not None:
        return Hop(name, HopState.FAILED, error=error)
    return Hop(name, HopState.PENDING)


def _ms(delta: timedelta) -> float:
    return round(delta.total_seconds() * 1000, 1)
