"""The outbox relay's decisions (claim, renew, sweep, give up) on fakes and a fake clock.

Each test drives `tick()` by hand and moves the clock, so the subtle timing cases take
milliseconds; tests/e2e runs the same guarantees on real servers and processes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from order_platform.order_service.infrastructure.kafka_publisher import PublishFailed
from order_platform.order_service.infrastructure.outbox import OutboxEntry
from order_platform.order_service.infrastructure.relay import EXPECT_FOR_LEASES, OutboxRelay
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


def entry(number: int, *, owner: str, lease_until: datetime) -> OutboxEntry:
    return OutboxEntry(
        order_id=str(UUID(int=number)),
        event_id=str(UUID(int=1000 + number)),
        key=str(UUID(int=number)).encode(),
        value=b"{}",
        headers=(),
        lease_owner=owner,
        lease_until=lease_until,
        created_at=lease_until - LEASE,
    )


async def run_for(relays: list[OutboxRelay], clock: FakeClock, duration: timedelta) -> None:
    """Every relay ticks (and removes what it published, which `run` does behind) once per
    heartbeat interval, for `duration` of fake time."""
    end = clock.now() + duration
    while clock.now() < end:
        for relay in relays:
            for _ in range(5):  # a few batches per round
                try:
                    await relay.tick()
                except PublishFailed:
                    break
            await relay.remove_published()
        clock.advance(STEP)


async def test_guarantee_1_an_insert_whose_outcome_was_unknown_is_published_once_it_lands() -> None:
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    relay = new_relay(store, broker, clock)
    late = entry(1, owner="a", lease_until=clock.now() + LEASE)

    relay.expect([late])
    await run_for([relay], clock, BEAT * 2)
    assert broker.received == []  # not stored (yet): publishing it would be a phantom event

    store.insert(late)  # the write the service could not confirm lands after all
    await run_for([relay], clock, BEAT * 2)
    assert broker.event_ids() == [late.event_id]


async def test_guarantee_1_an_insert_that_never_lands_is_never_published() -> None:
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    relay = new_relay(store, broker, clock, sweep_interval=LEASE)
    lost = entry(1, owner="a", lease_until=clock.now() + LEASE)

    relay.expect([lost])
    await run_for([relay], clock, LEASE * (EXPECT_FOR_LEASES + 2))

    assert broker.received == []


async def test_guarantee_1_entries_beyond_the_in_memory_cap_are_published_after_the_outage() -> (
    None
):
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    relay = new_relay(store, broker, clock, max_in_memory=2)
    await run_for([relay], clock, BEAT)  # started: the start-up sweep found nothing
    broker.available = False
    written = []
    for n in range(5):  # written one after the other: their leases end one after the other
        written.append(entry(n, owner="a", lease_until=clock.now() + LEASE))
        store.insert(written[-1])
        relay.notify(written[-1:])  # two are held, three are left in the store
        clock.advance(timedelta(seconds=2))
    broker.available = True

    await run_for([relay], clock, LEASE * 2)

    assert sorted(broker.event_ids()) == sorted(e.event_id for e in written)
    assert store.entries == {}


async def test_guarantee_1_the_safety_net_sweep_finds_an_entry_nobody_was_told_of() -> None:
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    relay = new_relay(store, broker, clock, sweep_interval=LEASE * 3)
    await run_for([relay], clock, BEAT)
    forgotten = entry(1, owner="a", lease_until=clock.now() + LEASE)
    store.insert(forgotten)  # e.g. a write whose reply was lost and never expected

    await run_for([relay], clock, LEASE * 2)
    assert broker.received == []  # not before the next safety-net sweep
    await run_for([relay], clock, LEASE * 2)
    assert broker.event_ids() == [forgotten.event_id]


async def test_guarantee_5_a_departed_relays_entries_are_taken_over_only_once_its_leases_ran_out() -> (
    None
):
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    departed = new_relay(store, FakePublisher(), clock, owner="departed")
    await departed.tick()  # one heartbeat, then it dies holding an entry
    left = entry(1, owner="departed", lease_until=clock.now() + LEASE)
    store.insert(left)
    survivor = new_relay(store, broker, clock, owner="survivor")

    await run_for([survivor], clock, LEASE - STEP)
    assert broker.received == []  # its lease still runs: the owner may be publishing it
    await run_for([survivor], clock, LEASE)
    assert broker.event_ids() == [left.event_id]
    assert "departed" not in store.alive_until  # forgotten after a complete sweep


async def test_guarantee_5_an_entry_held_through_a_long_outage_stays_with_its_relay() -> None:
    clock, store, broker = FakeClock(), FakeOutboxStore(), FakePublisher()
    holder = new_relay(store, broker, clock, owner="holder", sweep_interval=LEASE)
    other = new_relay(store, broker, clock, owner="other", sweep_interval=LEASE)
    await run_for([holder, other], clock, BEAT)
    broker.available = False
    held = entry(1, owner="holder", lease_until=clock.now() + LEASE)
    store.insert(held)
    holder.notify([held])

    await run_for([holder, other], clock, LEASE * 5)  # the holder keeps renewing its lease
    broker.available = True
    await run_for([holder, other], clock, LEASE)

    assert broker.event_ids() == [held.event_id]  # once: the other relay never claimed it
