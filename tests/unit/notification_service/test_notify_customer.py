"""`NotifyCustomer`: one notification per event, whatever the delivery does."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from order_platform.notification_service.application.notify_customer import (
    NotificationInFlight,
    NotifyCustomerHandler,
    Outcome,
)
from order_platform.notification_service.application.ports import (
    LedgerUnavailable,
    NotificationFailed,
)
from order_platform.notification_service.domain import Notification
from tests.unit.notification_service.fakes import FakeLedger, RecordingSender


def notification(event_id: UUID | None = None) -> Notification:
    return Notification(
        event_id=event_id or uuid4(),
        order_id=uuid4(),
        customer_name="Lucas",
        total_amount=Decimal("199.90"),
    )


@pytest.fixture
def notify(sender: RecordingSender, ledger: FakeLedger) -> NotifyCustomerHandler:
    return NotifyCustomerHandler(sender=sender, ledger=ledger)


async def test_sends_and_records_a_new_event(
    notify: NotifyCustomerHandler, sender: RecordingSender, ledger: FakeLedger
) -> None:
    first = notification()

    assert await notify(first) is Outcome.SENT

    assert sender.sent == [first]
    assert ledger.entries == {first.event_id: "sent"}


async def test_guarantee_2_a_redelivered_event_sends_nothing(
    notify: NotifyCustomerHandler, sender: RecordingSender
) -> None:
    first = notification()
    await notify(first)

    assert await notify(first) is Outcome.DUPLICATE
    assert await notify(notification(first.event_id)) is Outcome.DUPLICATE  # same id, new copy
    assert sender.sent == [first]


async def test_a_live_claim_elsewhere_sends_nothing_and_refuses_to_move_on(
    sender: RecordingSender, ledger: FakeLedger
) -> None:
    replica_a = NotifyCustomerHandler(sender=sender, ledger=ledger)
    replica_b = NotifyCustomerHandler(sender=sender, ledger=ledger)
    sender.gate = asyncio.Event()
    event = notification()
    in_flight = asyncio.create_task(replica_a(event))
    await sender.sending.wait()

    with pytest.raises(NotificationInFlight):
        await replica_b(event)

    sender.gate.set()
    assert await in_flight is Outcome.SENT
    assert await replica_b(event) is Outcome.DUPLICATE
    assert sender.sent == [event]


async def test_a_failed_send_gives_the_claim_back_so_the_retry_sends_at_once(
    notify: NotifyCustomerHandler, sender: RecordingSender, ledger: FakeLedger
) -> None:
    sender.failures_left = 1
    event = notification()

    with pytest.raises(NotificationFailed):
        await notify(event)
    assert ledger.entries == {}

    assert await notify(event) is Outcome.SENT
    assert sender.sent == [event]


async def test_a_claim_left_by_a_crash_mid_send_is_sent_again_once_it_expired(
    notify: NotifyCustomerHandler, sender: RecordingSender, ledger: FakeLedger
) -> None:
    event = notification()
    crashed = await ledger.claim(event.event_id)  # claimed, then the process died
    assert crashed.token

    with pytest.raises(NotificationInFlight):
        await notify(event)
    ledger.expire_claims()

    assert await notify(event) is Outcome.SENT
    assert sender.sent == [event]


async def test_an_unavailable_ledger_sends_nothing(
    notify: NotifyCustomerHandler, sender: RecordingSender, ledger: FakeLedger
) -> None:
    ledger.available = False

    with pytest.raises(LedgerUnavailable):
        await notify(notification())

    assert sender.sent == []


async def test_a_send_the_ledger_could_not_record_is_recorded_without_sending_again(
    notify: NotifyCustomerHandler, sender: RecordingSender, ledger: FakeLedger
) -> None:
    event = notification()
    ledger.fail_mark_sent = True

    with pytest.raises(LedgerUnavailable):
        await notify(event)
    ledger.fail_mark_sent = False

    assert await notify(event) is Outcome.SENT
    assert sender.sent == [event]
    assert ledger.entries == {event.event_id: "sent"}
    assert await notify(event) is Outcome.DUPLICATE
