"""`NotifyCustomer`: one notification per event, whatever the delivery does."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from order_platform.notification_service.application import notify_customer
from order_platform.notification_service.application.notify_customer import (
    NotificationInFlight,
    NotifyCustomerHandler,
    Outcome,
)
from order_platform.notification_service.application.ports import (
    LedgerUnavailable,
    NotificationFailed,
    Recorded,
)
from order_platform.notification_service.domain import OrderCreatedNotification
from tests.support.waiting import eventually
from tests.unit.notification_service.fakes import FakeLedger, RecordingSender


def notification(event_id: UUID | None = None) -> OrderCreatedNotification:
    return OrderCreatedNotification(
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
    assert ledger.sent() == {first.event_id}


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


async def test_a_failed_send_whose_claim_could_not_be_given_back_is_retried_at_once(
    notify: NotifyCustomerHandler, sender: RecordingSender, ledger: FakeLedger
) -> None:
    """The ledger away when the claim is given back: the claim stays this replica's, and its
    retry claims it again with its token instead of waiting for it to expire."""
    sender.failures_left, sender.gate = 1, asyncio.Event()
    event = notification()
    failing = asyncio.create_task(notify(event))
    await sender.sending.wait()
    ledger.available = False
    sender.gate.set()
    with pytest.raises(NotificationFailed):
        await failing
    ledger.available = True

    with pytest.raises(NotificationInFlight):
        await NotifyCustomerHandler(sender=sender, ledger=ledger)(event)  # another replica
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


async def test_a_claim_whose_answer_was_lost_is_this_replicas_own_on_the_next_try(
    notify: NotifyCustomerHandler, sender: RecordingSender, ledger: FakeLedger
) -> None:
    """Not held up for the claim's lifetime (30 s) by its own claim: the next try claims with
    the same token. Another replica still sees the claim in flight."""
    event = notification()
    ledger.lose_claim_replies = 1
    with pytest.raises(LedgerUnavailable):
        await notify(event)
    other_replica = NotifyCustomerHandler(sender=sender, ledger=ledger)

    with pytest.raises(NotificationInFlight):
        await other_replica(event)
    assert await notify(event) is Outcome.SENT
    assert sender.sent == [event]
    assert ledger.sent() == {event.event_id}


async def test_the_tokens_of_unanswered_claims_are_bounded_and_the_oldest_forgotten(
    notify: NotifyCustomerHandler,
    sender: RecordingSender,
    ledger: FakeLedger,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(notify_customer, "MAX_CLAIMS_MAYBE_OURS", 2)
    oldest, older, newest = notification(), notification(), notification()
    for event in (oldest, older, newest):
        ledger.lose_claim_replies = 1
        with pytest.raises(LedgerUnavailable):
            await notify(event)

    with pytest.raises(NotificationInFlight):  # forgotten: its claim has to expire
        await notify(oldest)
    assert await notify(older) is Outcome.SENT
    assert await notify(newest) is Outcome.SENT
    assert sender.sent == [older, newest]


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
    assert ledger.sent() == {event.event_id}
    assert notify.unrecorded == 0
    assert await notify(event) is Outcome.DUPLICATE


async def sent_but_unrecorded(
    sender: RecordingSender, ledger: FakeLedger
) -> tuple[NotifyCustomerHandler, NotifyCustomerHandler, OrderCreatedNotification, list[Recorded]]:
    """Replica A sent an event whose record the ledger refused; replica B shares the ledger.
    Returns both replicas, the event and what A's landed records reported."""
    reports: list[Recorded] = []
    replica_a = NotifyCustomerHandler(
        sender=sender, ledger=ledger, report=lambda _, recorded: reports.append(recorded)
    )
    replica_b = NotifyCustomerHandler(sender=sender, ledger=ledger)
    event = notification()
    ledger.fail_mark_sent = True
    with pytest.raises(LedgerUnavailable):
        await replica_a(event)  # sent; the record failed; the partition then moves to B
    return replica_a, replica_b, event, reports


async def test_guarantee_2_a_replica_taking_over_an_unrecorded_send_waits_until_it_is_recorded(
    sender: RecordingSender, ledger: FakeLedger
) -> None:
    """The record lands from the sender's background retry, whoever owns the partition now."""
    replica_a, replica_b, event, reports = await sent_but_unrecorded(sender, ledger)

    with pytest.raises(NotificationInFlight):
        await replica_b(event)
    assert await replica_a.record_unrecorded() == 0  # the ledger still refuses
    ledger.fail_mark_sent = False
    assert await replica_a.record_unrecorded() == 1

    assert await replica_b(event) is Outcome.DUPLICATE
    assert sender.sent == [event]
    assert reports == [Recorded.OWN_CLAIM]


async def test_the_background_retry_records_until_the_ledger_takes_it(
    sender: RecordingSender, ledger: FakeLedger
) -> None:
    notify = NotifyCustomerHandler(sender=sender, ledger=ledger, record_retry_seconds=0.001)
    event = notification()
    ledger.fail_mark_sent = True
    with pytest.raises(LedgerUnavailable):
        await notify(event)

    retrying = asyncio.create_task(notify.retry_unrecorded_forever())
    try:
        await eventually(lambda: _true(ledger.fail_mark_sent), what="a pass that failed")
        ledger.fail_mark_sent = False
        await eventually(lambda: _true(notify.unrecorded == 0), what="the record landed")
    finally:
        retrying.cancel()
    assert ledger.sent() == {event.event_id}
    assert sender.sent == [event]


async def test_unrecorded_sends_are_bounded_by_sending_no_more(
    sender: RecordingSender, ledger: FakeLedger
) -> None:
    notify = NotifyCustomerHandler(sender=sender, ledger=ledger, max_unrecorded=1)
    first, second = notification(), notification()
    ledger.fail_mark_sent = True
    with pytest.raises(LedgerUnavailable):
        await notify(first)

    with pytest.raises(LedgerUnavailable):
        await notify(second)
    assert sender.sent == [first]
    assert second.event_id not in ledger.entries  # not even claimed

    ledger.fail_mark_sent = False
    await notify.record_unrecorded()
    assert await notify(second) is Outcome.SENT
    assert sender.sent == [first, second]


async def test_guarantee_2_a_duplicate_needs_the_claim_to_expire_and_is_reported(
    sender: RecordingSender, ledger: FakeLedger
) -> None:
    """Case (b): the sender cannot record for longer than the claim lives; B takes over."""
    replica_a, replica_b, event, reports = await sent_but_unrecorded(sender, ledger)
    ledger.expire_claims()
    ledger.fail_mark_sent = False
    sender.gate = asyncio.Event()
    sender.sending.clear()
    taking_over = asyncio.create_task(replica_b(event))
    await sender.sending.wait()

    assert await replica_a.record_unrecorded() == 1
    sender.gate.set()
    assert await taking_over is Outcome.SENT

    assert sender.sent == [event, event]
    assert reports == [Recorded.TAKEN_OVER]
    assert await replica_b(event) is Outcome.DUPLICATE


async def _true(value: bool) -> bool:
    return value
