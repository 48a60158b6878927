"""`NotifyInOrder`: an order's events told in `orderVersion` order, each once, whatever arrives
when, whatever crashes between the steps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import uuid4

import pytest

from order_platform.notification_service.application.notify_customer import (
    NotifyCustomerHandler,
    Outcome,
)
from order_platform.notification_service.application.notify_in_order import (
    NotifyInOrderHandler,
    ParkedReleaseFailed,
)
from order_platform.notification_service.application.ports import LedgerUnavailable
from order_platform.notification_service.domain import Notification, OrderProgress
from tests.unit.notification_service.builders import cancelled, confirmed, created, shipped
from tests.unit.notification_service.fakes import FakeLedger, FakeOrderProgress, RecordingSender


class Report:
    """A `ParkingReport` that remembers (version, the version waited for) of each."""

    def __init__(self) -> None:
        self.parkings: list[tuple[int, int]] = []
        self.releases: list[tuple[int, int]] = []

    def parked(self, notification: Notification, waiting_for: int) -> None:
        self.parkings.append((notification.order_version, waiting_for))

    def released(self, notification: Notification, waited_for: int) -> None:
        self.releases.append((notification.order_version, waited_for))


@pytest.fixture
def report() -> Report:
    return Report()


def replica(
    sender: RecordingSender, ledger: FakeLedger, orders: Any, report: Report | None = None
) -> NotifyInOrderHandler:
    """One process of the notifier over the shared ledger and order records."""
    return NotifyInOrderHandler(
        notify=NotifyCustomerHandler(sender=sender, ledger=ledger),
        orders=orders,
        report=report or Report(),
    )


@pytest.fixture
def notify(
    sender: RecordingSender, ledger: FakeLedger, orders: FakeOrderProgress, report: Report
) -> NotifyInOrderHandler:
    return replica(sender, ledger, orders, report)


def told(sender: RecordingSender) -> list[tuple[str, int]]:
    return [(n.event_type, n.order_version) for n in sender.sent]


async def test_an_orders_events_in_order_are_each_told_once_with_the_customers_name(
    notify: NotifyInOrderHandler, sender: RecordingSender
) -> None:
    order = uuid4()
    events = [created(order, "Ana"), confirmed(order), shipped(order, tracking_number="TN-1")]

    assert [await notify(event) for event in events] == [Outcome.SENT] * 3

    assert [n.line for n in sender.sent[1:]] == [
        f"✅ Order {order} confirmed | Ana",
        f"📦 Order {order} shipped to Ana | Tracking: TN-1",
    ]


async def test_a_cancel_of_an_order_whose_confirmation_is_parked_is_told_after_it(
    notify: NotifyInOrderHandler, sender: RecordingSender, report: Report
) -> None:
    order = uuid4()
    confirmation, cancel = confirmed(order), cancelled(order, reason="Changed my mind")
    await notify(created(order))

    assert await notify(cancel) is Outcome.PARKED
    assert told(sender) == [("OrderCreated", 1)]
    assert report.parkings == [(3, 2)]

    assert await notify(confirmation) is Outcome.SENT  # late, or redriven from the DLQ

    assert told(sender) == [("OrderCreated", 1), ("OrderConfirmed", 2), ("OrderCancelled", 3)]
    assert sender.sent[-1].line == f"❌ Order {order} cancelled | Reason: Changed my mind"
    assert report.releases == [(3, 2)]


async def test_a_transition_before_its_creation_was_told_waits_for_the_creation(
    notify: NotifyInOrderHandler, sender: RecordingSender
) -> None:
    order = uuid4()
    creation = created(order, "Bia")
    sender.failures_left = 1
    with pytest.raises(Exception, match="down"):
        await notify(creation)  # retried, then dead-lettered

    assert await notify(confirmed(order)) is Outcome.PARKED
    assert await notify(shipped(order)) is Outcome.PARKED
    assert sender.sent == []

    await notify(creation)  # redriven

    assert told(sender) == [("OrderCreated", 1), ("OrderConfirmed", 2), ("OrderShipped", 3)]
    assert all(n.customer_name == "Bia" for n in sender.sent)


async def test_parked_events_are_released_in_version_order_whatever_order_they_arrived_in(
    notify: NotifyInOrderHandler, sender: RecordingSender, orders: FakeOrderProgress
) -> None:
    order = uuid4()
    await notify(created(order))
    await notify(shipped(order, version=4))
    await notify(cancelled(order, version=5))
    await notify(confirmed(order, version=3))

    await notify(confirmed(order, version=2))

    assert [v for _, v in told(sender)] == [1, 2, 3, 4, 5]
    assert orders.orders[order].notified_version == 5
    assert orders.orders[order].parked == {}


async def test_other_orders_are_never_held_up_by_a_parked_event(
    notify: NotifyInOrderHandler, sender: RecordingSender
) -> None:
    stuck, other = uuid4(), uuid4()
    await notify(created(stuck))
    await notify(cancelled(stuck))  # waits for version 2

    for event in (created(other), confirmed(other), cancelled(other)):
        assert await notify(event) is Outcome.SENT

    assert [n.order_id for n in sender.sent].count(other) == 3


async def test_a_redelivered_event_is_told_once_and_moves_nothing(
    notify: NotifyInOrderHandler, sender: RecordingSender, orders: FakeOrderProgress
) -> None:
    order = uuid4()
    creation, confirmation, cancel = created(order), confirmed(order), cancelled(order)
    for event in (creation, confirmation, cancel):
        await notify(event)

    for event in (confirmation, creation, cancel):
        assert await notify(event) is Outcome.DUPLICATE

    assert len(sender.sent) == 3
    assert orders.orders[order].notified_version == 3


async def test_a_parked_event_delivered_again_stays_parked_once(
    notify: NotifyInOrderHandler, sender: RecordingSender, orders: FakeOrderProgress
) -> None:
    order = uuid4()
    cancel = cancelled(order)
    await notify(created(order))
    await notify(cancel)

    assert await notify(cancel) is Outcome.PARKED

    assert list(orders.orders[order].parked) == [3]
    await notify(confirmed(order))
    assert told(sender).count(("OrderCancelled", 3)) == 1


async def test_an_order_created_before_records_were_kept_starts_at_the_first_version_seen(
    notify: NotifyInOrderHandler, sender: RecordingSender
) -> None:
    """Its creation was notified by an earlier version of the notifier (or its record outlived
    the retention): nothing waits for a version 1 that will not come again."""
    order = uuid4()

    assert await notify(shipped(order, version=3, tracking_number="TN-9")) is Outcome.SENT
    assert await notify(cancelled(order, version=4)) is Outcome.SENT
    assert await notify(confirmed(order, version=2)) is Outcome.SENT  # late: told, moves nothing

    assert [n.line for n in sender.sent[:2]] == [
        f"📦 Order {order} shipped to - | Tracking: TN-9",
        f"❌ Order {order} cancelled | Reason: -",
    ]


async def test_an_order_whose_record_expired_starts_again_at_the_first_version_seen(
    notify: NotifyInOrderHandler, sender: RecordingSender, orders: FakeOrderProgress
) -> None:
    order = uuid4()
    await notify(created(order))
    orders.forget(order)  # idle for longer than the retention

    assert await notify(shipped(order, version=3)) is Outcome.SENT


# Crash-like interleavings: a step's write fails (the process dies there), then the event
# being handled is delivered again, to a fresh process, since its offset was not committed.


class Crash(Exception):
    """The process dies here."""


class CrashingOrders:
    """The shared order records, with a crash before or after one chosen write."""

    def __init__(self, shared: FakeOrderProgress) -> None:
        self.shared = shared
        self.crash_at: tuple[str, str, int] | None = None  # (before|after, method, version)

    def __getattr__(self, name: str) -> Callable[..., Awaitable[OrderProgress]]:
        method = getattr(self.shared, name)

        async def call(*args: Any) -> OrderProgress:
            version = {"park": lambda: args[0].order_version, "advance": lambda: args[1]}.get(
                name, lambda: None
            )()
            if self.crash_at == ("before", name, version):
                self.crash_at = None
                raise Crash(f"before {name} {version}")
            result: OrderProgress = await method(*args)
            if self.crash_at == ("after", name, version):
                self.crash_at = None
                raise Crash(f"after {name} {version}")
            return result

        return call


@pytest.mark.parametrize(
    "crash_at",
    [
        ("after", "park", 3),  # parked, the missing version not looked at again
        ("before", "advance", 2),  # the missing version sent, the order not advanced
        ("after", "advance", 2),  # advanced, its successor not released
        ("before", "advance", 3),  # the successor sent, still parked
    ],
)
async def test_a_crash_between_the_steps_is_repaired_by_the_redelivery(
    sender: RecordingSender,
    ledger: FakeLedger,
    orders: FakeOrderProgress,
    crash_at: tuple[str, str, int],
) -> None:
    order = uuid4()
    confirmation, cancel = confirmed(order), cancelled(order)
    crashing = CrashingOrders(orders)
    await replica(sender, ledger, crashing)(created(order))
    if crash_at[1] != "park":
        await replica(sender, ledger, crashing)(cancel)
    crashing.crash_at = crash_at
    handling = cancel if crash_at[1] == "park" else confirmation

    with pytest.raises(Crash):
        await replica(sender, ledger, crashing)(handling)
    if crash_at[1] == "park":
        # The missing version arrives meanwhile, on another replica.
        await replica(sender, ledger, crashing)(confirmation)
    await replica(sender, ledger, crashing)(handling)  # redelivered to a fresh process

    assert told(sender) == [("OrderCreated", 1), ("OrderConfirmed", 2), ("OrderCancelled", 3)]
    assert orders.orders[order].notified_version == 3
    assert orders.orders[order].parked == {}


async def test_a_park_racing_with_its_missing_version_on_another_replica_is_released(
    sender: RecordingSender, ledger: FakeLedger, orders: FakeOrderProgress
) -> None:
    """Replica A reads the order (version 1 notified) and decides to park the cancel; before
    its park lands, replica B notifies the confirmation and finds nothing parked. A's park
    answers the record it left, which shows version 2 notified: A releases the cancel."""
    order = uuid4()
    await replica(sender, ledger, orders)(created(order))
    confirmation, cancel = confirmed(order), cancelled(order)
    replica_b = replica(sender, ledger, orders)

    class ConfirmationLandsFirst:
        def __getattr__(self, name: str) -> Any:
            return getattr(orders, name)

        async def park(self, notification: Notification) -> OrderProgress:
            await replica_b(confirmation)
            return await orders.park(notification)

    assert await replica(sender, ledger, ConfirmationLandsFirst())(cancel) is Outcome.PARKED

    assert told(sender) == [("OrderCreated", 1), ("OrderConfirmed", 2), ("OrderCancelled", 3)]
    assert orders.orders[order].parked == {}


async def test_a_release_that_keeps_failing_fails_the_event_being_handled_and_stays_parked(
    notify: NotifyInOrderHandler, sender: RecordingSender, orders: FakeOrderProgress
) -> None:
    order = uuid4()
    confirmation, cancel = confirmed(order), cancelled(order)
    await notify(created(order))
    await notify(cancel)
    sender.refused.add(cancel.event_id)

    with pytest.raises(ParkedReleaseFailed, match=f"OrderCancelled {cancel.event_id}"):
        await notify(confirmation)
    assert list(orders.orders[order].parked) == [3]

    sender.refused.clear()  # the receiver is back; the confirmation's dead letter is redriven
    assert await notify(confirmation) is Outcome.DUPLICATE
    assert told(sender) == [("OrderCreated", 1), ("OrderConfirmed", 2), ("OrderCancelled", 3)]


async def test_an_unavailable_order_record_is_waited_for_and_nothing_is_sent(
    notify: NotifyInOrderHandler, sender: RecordingSender, orders: FakeOrderProgress
) -> None:
    orders.available = False

    with pytest.raises(LedgerUnavailable):
        await notify(confirmed(uuid4()))

    assert sender.sent == []


async def test_a_park_landing_after_the_event_was_told_elsewhere_is_taken_off_the_park(
    sender: RecordingSender, ledger: FakeLedger, orders: FakeOrderProgress
) -> None:
    """The cancel is delivered twice (a rebalance): replica A reads version 1 notified and
    parks it; before the park lands, replica B tells the confirmation and the cancel. The park
    then holds an event at or below the order's version: it is only deduplicated, and goes."""
    order = uuid4()
    await replica(sender, ledger, orders)(created(order))
    confirmation, cancel = confirmed(order), cancelled(order)
    replica_b = replica(sender, ledger, orders)

    class BothToldFirst:
        def __getattr__(self, name: str) -> Any:
            return getattr(orders, name)

        async def park(self, notification: Notification) -> OrderProgress:
            await replica_b(confirmation)
            await replica_b(cancel)
            return await orders.park(notification)

    assert await replica(sender, ledger, BothToldFirst())(cancel) is Outcome.PARKED

    assert told(sender) == [("OrderCreated", 1), ("OrderConfirmed", 2), ("OrderCancelled", 3)]
    assert orders.orders[order].parked == {}
