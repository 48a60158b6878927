"""The `NotifyInOrder` use case: an order's events are told in `orderVersion` order, each once.

Each event goes through `NotifyCustomer` (the per-`eventId` ledger protocol, unchanged), and
around it the order's record (`OrderProgressLedger`) decides when:

- an `OrderCreated` first records the customer's name and starts the order at version 0, so
  that the transitions, which do not carry the name, are addressed by it, and so that a
  transition arriving before its creation was notified (the creation dead-lettered, say)
  waits for it;
- an event whose predecessor was notified is notified, then the order advances to it;
- an event whose predecessor was not notified yet is parked in the order's record, and the
  caller may commit past it (it is stored, not lost; other orders go on);
- an event at or below the order's notified version goes through the per-event dedupe only (a
  redelivery sends nothing) and moves nothing;
- after any of these, the order's parked events whose turn has come are released, lowest
  version first, each notified and then advanced past (which takes it off the park).

An order the notifier has no record of (created before this version kept records, or idle for
longer than their retention) starts at the first version it sees, its name unknown (`-` in
the line): nothing says whether an earlier version is still to come, and waiting for one that
never comes would park the order's events forever. An order whose creation this version saw
always has a record, so its transitions wait for that creation.

Guarantee. Every step is idempotent and every write answers the record it left, so a crash
between any two steps is repaired by the redelivery of the event being handled (its offset is
committed only after this returns):
- parked, not released yet: the redelivery parks it again (no change) and looks again;
- the missing version sent, the order not advanced: the redelivery finds it sent (dedupe) and
  advances;
- advanced, its successor not released (or released and not taken off the park): the
  redelivery is at or below the order's version, and releasing looks at the park again; a
  parked event already notified is only deduplicated there.
Two replicas racing (a redriven predecessor on one, its successor parking on the other) cannot
strand an event: each writes first (advance, park) and then reads the record that write left,
so at least one of them sees both and releases; both releasing the same event is settled by
its claim in the ledger. A parked event whose release keeps failing fails the event being
handled, which the consumer retries and then dead-letters (its error names the parked one);
the parked event stays parked, and any later event of the order, or the redrive of that dead
letter, releases it. A parked event is kept as long as the order's record: the retention of
`sent` records, refreshed by every write to the order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from order_platform.notification_service.application.notify_customer import (
    NotifyCustomerHandler,
    Outcome,
)
from order_platform.notification_service.application.ports import (
    NotificationFailed,
    OrderProgressLedger,
)
from order_platform.notification_service.domain import (
    Notification,
    OrderCreatedNotification,
    OrderProgress,
    Turn,
)


class ParkingReport(Protocol):
    """Told of every park and release (observability: a log line and a metric each)."""

    def parked(self, notification: Notification, waiting_for: int) -> None: ...

    def released(self, notification: Notification, waited_for: int) -> None: ...


class _Unreported:
    def parked(self, notification: Notification, waiting_for: int) -> None:
        pass

    def released(self, notification: Notification, waited_for: int) -> None:
        pass


class ParkedReleaseFailed(NotificationFailed):
    """The send of a parked event being released failed: raised for the event being handled,
    so that its dead letter names the parked one (redriving it releases the parked one again).
    Whatever is `Unavailable` (the ledger away, the event in flight elsewhere) is not renamed:
    the consumer waits for it."""


@dataclass(frozen=True, slots=True)
class NotifyInOrderHandler:
    notify: NotifyCustomerHandler
    orders: OrderProgressLedger
    report: ParkingReport = field(default_factory=_Unreported)

    async def __call__(self, notification: Notification) -> Outcome:
        order_id, version = notification.order_id, notification.order_version
        if isinstance(notification, OrderCreatedNotification):
            progress = await self.orders.remember_customer(order_id, notification.customer_name)
        else:
            progress = await self.orders.progress(order_id)
        turn = progress.turn_of(version)
        if turn is Turn.WAIT:
            waiting_for = progress.waiting_for
            progress = await self.orders.park(notification)
            self.report.parked(notification, waiting_for)
            # The missing version may have been notified since it was read: look again.
            await self._release(progress)
            return Outcome.PARKED
        outcome = await self.notify(progress.addressed(notification))
        if turn is Turn.NOW:
            progress = await self.orders.advance(order_id, version)
        await self._release(progress)
        return outcome

    async def _release(self, progress: OrderProgress) -> None:
        while (parked := progress.releasable()) is not None:
            try:
                await self.notify(progress.addressed(parked))
            except NotificationFailed as error:
                raise ParkedReleaseFailed(
                    f"releasing parked {parked.event_type} {parked.event_id} (order "
                    f"{parked.order_id}, version {parked.order_version}) failed: {error}"
                ) from error
            progress = await self.orders.advance(parked.order_id, parked.order_version)
            self.report.released(parked, parked.order_version - 1)
