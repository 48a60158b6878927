"""The outbox relay's decisions (claim, renew, sweep, give up) on fakes and a fake clock.

Each test drives the relay's two loops by hand, a round at a time (`heartbeat`,
`publish_round`), and moves the clock, so the subtle timing cases take milliseconds; tests/e2e
runs the same guarantees on real servers and processes.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

from prometheus_client import REGISTRY

from order_platform.order_service.domain import Order
from order_platform.order_service.outbox.bookkeeping import EXPECT_FOR_LEASES
from order_platform.order_service.outbox.entry import OutboxEntry
from order_platform.order_service.outbox.kafka_publisher import PublishFailed
from order_platform.order_service.outbox.relay import OutboxRelay
from tests.support.waiting import eventually
from tests.unit.order_service.fakes import FakeClock
from tests.unit.order_service.relay_fakes import (
    FakeHeartbeats,
    FakeOutbox,
    FakeOutboxStore,
    FakePublisher,
)

LEASE = timedelta(seconds=10)
BEAT = LEASE / 3
STEP = BEAT + timedelta(milliseconds=1)


def new_relay(
    store: FakeOutboxStore,
    broker: FakePublisher,
    clock: FakeClock,
    *,
    owner: str = "a",
    **options: int | timedelta,
) -> OutboxRelay:
    return OutboxRelay(
        FakeOutbox(store, owner=owner, lease=LEASE),
        FakeHeartbeats(store, owner=owner, lease=LEASE),
        broker,
        clock,
        **options,  # type: ignore[arg-type]
    )


async def written(relay: OutboxRelay, clock: FakeClock, number: int) -> OutboxEntry:
    """An order's entry as the unit of work gets it from `relay`, numbered, before its insert."""
    order = Order.create(
        order_id=UUID(int=number),
        event_id=UUID(int=1000 + number),
        customer_name=f"C{number}",
        total_amount=Decimal(1),
        now=clock.now(),
    )
    return await relay.new_entry(order)


async def run_for(relays: list[OutboxRelay], clock: FakeClock, duration: timedelta) -> None:
    """Every relay beats once per heartbeat interval, then publishes, for `duration` of fake
    time."""
    end = clock.now() + duration
    while clock.now() < end:
        for relay in relays:
            await relay.heartbeat()
            for _ in range(5):  # a few batches per round
                try:
                    await relay.publish_round()
                except PublishFailed:
                    break
        clock.advance(STEP)


async def test_guarantee_1_an_insert_whose_outcome_was_unknown_is_published_once_it_lands() -> None:
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    relay = new_relay(store, broker, clock)
    await relay.heartbeat()  # registered
    late = await written(relay, clock, 1)

    relay.outcome_unknown([late])
    await run_for([relay], clock, BEAT * 2)
    assert broker.received == []  # not stored (yet): publishing it would be a phantom event

    store.insert(late)  # the write the service could not confirm lands after all
    await run_for([relay], clock, BEAT * 2)
    assert broker.event_ids() == [late.event_id]


async def test_an_expected_entry_is_published_as_stored_not_as_this_attempt_wrote_it() -> None:
    """The stale event the simulator found (seed 59234): a transition's write of unknown
    outcome did not land, and the command's retry stored its own transition under the event
    id the first attempt had reserved, one version later. The relay still looking for the
    first attempt's entry finds that id and must publish what is stored."""
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    relay = new_relay(store, broker, clock)
    await relay.heartbeat()
    first_attempt = await written(relay, clock, 1)
    relay.outcome_unknown([first_attempt])  # its write never landed

    retried = replace(first_attempt, value=b'{"orderVersion": 3}')  # the retry's, same id
    store.insert(retried)
    relay.committed([retried])
    await run_for([relay], clock, BEAT * 2)

    assert [entry.value for entry in broker.received] == [retried.value]


async def test_guarantee_1_an_insert_that_lands_after_the_relay_gave_up_on_it_is_still_published() -> (
    None
):
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    relay = new_relay(store, broker, clock, sweep_interval=LEASE)
    await relay.heartbeat()
    lost = await written(relay, clock, 1)

    relay.outcome_unknown([lost])
    await run_for([relay], clock, LEASE * (EXPECT_FOR_LEASES + 2))
    assert broker.received == []  # never stored: publishing it would be a phantom event

    assert store.insert(lost)  # it lands long after: its lease has run out, a sweep finds it
    await run_for([relay], clock, LEASE * 2)
    assert broker.event_ids() == [lost.event_id]


async def test_guarantee_1_an_expected_entry_found_during_an_outage_survives_its_relays_death() -> (
    None
):
    """The loss the simulator found: an insert of unknown outcome lands, its relay finds it
    while the broker is away, then dies holding it; a survivor must still publish it."""
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    dying_broker = FakePublisher()
    relay = new_relay(store, dying_broker, clock, owner="dying")
    await relay.heartbeat()
    first, second = await written(relay, clock, 1), await written(relay, clock, 2)
    relay.outcome_unknown([first])  # its reply was lost
    store.insert(second)
    relay.committed([second])
    await run_for([relay], clock, BEAT)  # the second is published
    store.insert(first)  # the first had landed after all
    dying_broker.available = False
    await run_for([relay], clock, BEAT * 2)  # found, held, not published; then the relay dies

    survivor = new_relay(store, broker, clock, owner="survivor")
    await run_for([survivor], clock, LEASE * 3)

    assert first.event_id in broker.event_ids()
    assert store.unpublished() == []


async def test_guarantee_1_entries_beyond_the_in_memory_cap_are_published_after_the_outage() -> (
    None
):
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    relay = new_relay(store, broker, clock, max_in_memory=2)
    await run_for([relay], clock, BEAT)  # started: the start-up sweep found nothing
    broker.available = False
    written_ = []
    for n in range(5):  # written one after the other: their leases end one after the other
        written_.append(await written(relay, clock, n))
        store.insert(written_[-1])
        relay.committed(written_[-1:])  # two are held, three are left in the store
        clock.advance(timedelta(seconds=2))
    broker.available = True

    await run_for([relay], clock, LEASE * 2)

    assert sorted(broker.event_ids()) == sorted(e.event_id for e in written_)
    assert store.unpublished() == []


async def test_guarantee_1_the_safety_net_sweep_finds_an_entry_nobody_was_told_of() -> None:
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    relay = new_relay(store, broker, clock, sweep_interval=LEASE * 3)
    await run_for([relay], clock, BEAT)
    forgotten = await written(relay, clock, 1)
    store.insert(forgotten)  # e.g. a code path that forgot to say how the insert went

    await run_for([relay], clock, LEASE * 2)
    assert broker.received == []  # not before the next safety-net sweep
    await run_for([relay], clock, LEASE * 2)
    assert broker.event_ids() == [forgotten.event_id]
    assert store.unpublished() == []


async def test_guarantee_5_a_departed_relays_entries_are_taken_over_only_once_its_leases_ran_out() -> (
    None
):
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    departed = new_relay(store, FakePublisher(), clock, owner="departed")
    await departed.heartbeat()  # one heartbeat, then it dies holding an entry
    left = await written(departed, clock, 1)
    store.insert(left)
    survivor = new_relay(store, broker, clock, owner="survivor")

    await run_for([survivor], clock, LEASE - STEP)
    assert broker.received == []  # its lease still runs: the owner may be publishing it
    await run_for([survivor], clock, LEASE)
    assert broker.event_ids() == [left.event_id]
    assert "departed" not in store.alive_until  # forgotten after a complete sweep


async def test_guarantee_5_an_entry_whose_lease_outlives_its_relays_heartbeat_is_still_published() -> (
    None
):
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    departed = new_relay(store, FakePublisher(), clock, owner="departed")
    await departed.heartbeat()
    left = await written(departed, clock, 1)
    # Its clock was ahead of the others' by more than it should be: the lease outlives the
    # moment its heartbeat says every lease has run out, so the sweep after it misses it.
    store.insert(replace(left, lease_until=clock.now() + LEASE * 3))
    survivor = new_relay(store, broker, clock, owner="survivor", sweep_interval=LEASE * 2)

    await run_for([survivor], clock, LEASE * 2)
    assert broker.received == []  # its lease still runs
    await run_for([survivor], clock, LEASE * 3)  # the safety-net sweep, whatever was forgotten
    assert broker.event_ids() == [left.event_id]


async def test_guarantee_5_an_entry_held_through_a_long_outage_stays_with_its_relay() -> None:
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    holder = new_relay(store, broker, clock, owner="holder", sweep_interval=LEASE)
    other = new_relay(store, broker, clock, owner="other", sweep_interval=LEASE)
    await run_for([holder, other], clock, BEAT)
    broker.available = False
    held = await written(holder, clock, 1)
    store.insert(held)
    holder.committed([held])

    await run_for([holder, other], clock, LEASE * 5)  # the holder keeps renewing its lease
    broker.available = True
    await run_for([holder, other], clock, LEASE)

    assert broker.event_ids() == [held.event_id]  # once: the other relay never claimed it


async def test_published_entries_lose_their_lease_and_are_never_published_again() -> None:
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    relay = new_relay(store, broker, clock, owner="gone", sweep_interval=LEASE)
    await relay.heartbeat()
    entries = [await written(relay, clock, n) for n in range(3)]
    for entry in entries:
        store.insert(entry)
    relay.committed(entries)
    await relay.publish_round()
    assert store.published == {e.event_id for e in entries}  # right after the acknowledgement

    await run_for([relay], clock, LEASE * 3)  # its own safety-net sweeps, leases long expired
    survivor = new_relay(store, broker, clock, owner="survivor")
    await run_for([survivor], clock, LEASE * 3)  # "gone" departs; a sweep finds nothing of it

    assert sorted(broker.event_ids()) == sorted(e.event_id for e in entries)  # once each
    assert len(store.entries) == 3  # still in their orders


async def test_an_insert_of_unknown_outcome_holds_back_no_other_entry() -> None:
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    relay = new_relay(store, broker, clock)
    await relay.heartbeat()
    unsure = await written(relay, clock, 1)
    relay.outcome_unknown([unsure])
    after = [await written(relay, clock, n) for n in range(2, 5)]
    for entry in after:
        store.insert(entry)
    relay.committed(after)

    await relay.publish_round()

    assert sorted(broker.event_ids()) == sorted(e.event_id for e in after)
    assert store.unpublished() == []


async def test_a_failed_publish_keeps_the_lease_and_a_failed_lease_removal_is_retried() -> None:
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    relay = new_relay(store, broker, clock)
    await relay.heartbeat()
    entry = await written(relay, clock, 1)
    store.insert(entry)
    broker.available = False
    relay.committed([entry])
    await run_for([relay], clock, BEAT)
    assert store.unpublished() == [entry] or store.unpublished()[0].event_id == entry.event_id

    broker.available = True
    await run_for([relay], clock, BEAT * 2)
    assert broker.event_ids() == [entry.event_id]
    assert store.unpublished() == []


async def test_a_failed_lease_removal_is_counted_apart_and_publishes_nothing_again() -> None:
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    relay = new_relay(store, broker, clock)
    await relay.heartbeat()
    entry = await written(relay, clock, 1)
    store.insert(entry)
    store.failing_lease_removals = 1
    removals_before = _sample("outbox_lease_removal_failures_total")
    publishes_before = _sample("outbox_publish_failures_total")

    relay.committed([entry])
    running = asyncio.create_task(relay.run())
    try:

        async def removed() -> bool:
            return store.unpublished() == []

        await eventually(removed, timeout=5, what="the lease removed on the retry")
    finally:
        relay.request_stop()
        await running

    assert broker.event_ids() == [entry.event_id]  # published once: the retry only removes
    assert _sample("outbox_lease_removal_failures_total") == removals_before + 1
    assert _sample("outbox_publish_failures_total") == publishes_before
    assert relay.failures == 0


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0
