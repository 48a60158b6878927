"""How far the customer has been told about one order, and which of its events wait their turn.

Pure bookkeeping (no I/O): the notifier tells an order's events in `orderVersion` order. An
event whose predecessor has not been notified is parked; it is released as soon as the
predecessor is. What the notifier knows of an order is its `OrderProgress`, read from and
written to its store in one piece, so that every decision here is made on one snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum

from order_platform.notification_service.domain.notification import Notification


class Turn(Enum):
    NOW = "now"
    """Its predecessor was notified (or the order is unknown): notify it and move the order on."""
    WAIT = "wait"
    """A version before it has not been notified yet: park it."""
    PAST = "past"
    """The order was notified up to it or beyond: only the per-event dedupe applies (a
    redelivery is skipped; the order does not move)."""


@dataclass(frozen=True, slots=True)
class OrderProgress:
    """`notified_version` is the highest version notified in order: 0 once the order's creation
    was seen but not notified yet, `None` when the notifier has no record of the order at all
    (created before records were kept, or idle for longer than their retention). Such an order
    starts at the first version it sees: nothing says that an earlier one is still to come, and
    waiting for one that never comes would hold its events forever."""

    notified_version: int | None = None
    customer_name: str | None = None
    parked: Mapping[int, Notification] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        return self.notified_version is not None

    def turn_of(self, version: int) -> Turn:
        if self.notified_version is None or version == self.notified_version + 1:
            return Turn.NOW
        if version <= self.notified_version:
            return Turn.PAST
        return Turn.WAIT

    @property
    def waiting_for(self) -> int:
        """The version the order's parked events wait for."""
        return 1 if self.notified_version is None else self.notified_version + 1

    def releasable(self) -> Notification | None:
        """The parked event to notify next, if any: the lowest one whose turn has come.

        A parked event at or below `notified_version` is also handed out: it was notified
        (or skipped past) but not yet taken off the park (a crash in between, or two
        replicas racing); notifying it again is only the per-event dedupe.
        """
        if not self.parked:
            return None
        lowest = min(self.parked)
        if self.turn_of(lowest) is Turn.WAIT:
            return None
        return self.parked[lowest]

    def addressed(self, notification: Notification) -> Notification:
        """`notification` with the customer's name filled in where its event lacks it."""
        if notification.customer_name is not None or self.customer_name is None:
            return notification
        return replace(notification, customer_name=self.customer_name)
