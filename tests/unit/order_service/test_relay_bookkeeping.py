"""The relay's bookkeeping on its own: plain entries and times, no fakes, no event loop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from order_platform.order_service.outbox.bookkeeping import (
    EXPECT_FOR_LEASES,
    Departed,
    RelayBookkeeping,
)
from order_platform.order_service.outbox.entry import OutboxEntry

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=10)
BEAT = LEASE / 3
SWEEP_INTERVAL = timedelta(seconds=60)


def book(*, max_in_memory: int = 100, max_unmarked: int = 100) -> RelayBookkeeping:
    return RelayBookkeeping(
        owner="a",
        lease=LEASE,
        beat_interval=BEAT,
        max_in_memory=max_in_memory,
        sweep_interval=SWEEP_INTERVAL,
        max_unmarked=max_unmarked,
    )


def entry(number: int, *, lease_until: datetime = NOW + LEASE) -> OutboxEntry:
    return OutboxEntry(
        order_id=f"order-{number}",
        event_id=f"event-{number}",
        key=f"order-{number}".encode(),
        value=b"{}",
        headers=(),
        lease_owner="a",
        lease_until=lease_until,
        created_at=NOW - timedelta(seconds=number),
    )


def never_expired(alive_until: datetime, now: datetime) -> bool:
    return False


def complete_sweep(bookkeeping: RelayBookkeeping, now: datetime) -> list[Departed]:
    return bookkeeping.swept(now, [], 10, lambda until, at: at > until + BEAT)


def test_an_entry_held_twice_is_held_once_with_the_fresher_lease() -> None:
    bookkeeping = book()
    bookkeeping.hold([entry(1)])
    bookkeeping.hold([entry(1, lease_until=NOW + 2 * LEASE)])
    assert bookkeeping.held == 1
    assert bookkeeping.next_batch(10) == [entry(1, lease_until=NOW + 2 * LEASE)]


def test_batches_take_the_oldest_held_first_and_hold_no_entry_twice() -> None:
    bookkeeping = book()
    bookkeeping.hold([entry(1), entry(2), entry(3)])
    assert bookkeeping.next_batch(2) == [entry(1), entry(2)]
    assert bookkeeping.next_batch(2) == [entry(3)]
    assert bookkeeping.held == 0
    assert bookkeeping.oldest_held_created_at() is None


def test_the_first_sweep_is_due_at_once_then_every_sweep_interval() -> None:
    bookkeeping = book()
    assert bookkeeping.sweep_due(NOW)  # an earlier run may have left entries
    complete_sweep(bookkeeping, NOW)
    assert bookkeeping.sweep_at == NOW + SWEEP_INTERVAL
    assert not bookkeeping.sweep_due(NOW + SWEEP_INTERVAL - timedelta(milliseconds=1))
    assert bookkeeping.seconds_until_sweep(NOW) == SWEEP_INTERVAL.total_seconds()


def test_a_sweep_that_filled_its_room_is_due_again_at_once() -> None:
    bookkeeping = book()
    claimed = [entry(1), entry(2)]
    bookkeeping.swept(NOW, claimed, 2, never_expired)
    assert bookkeeping.sweep_due(NOW)
    assert bookkeeping.held == 2


def test_entries_beyond_the_cap_wait_for_a_sweep_after_the_last_of_their_leases() -> None:
    bookkeeping = book(max_in_memory=1)
    complete_sweep(bookkeeping, NOW)
    late = NOW + 2 * LEASE
    assert bookkeeping.hold([entry(1), entry(2), entry(3, lease_until=late)])  # sweep sooner
    assert bookkeeping.held == 1
    assert bookkeeping.sweep_at == NOW + LEASE  # the first dropped lease
    assert bookkeeping.leaves_entries_behind()
    # A complete sweep before the last dropped lease ran out cannot have found it: another
    # sweep follows just after it.
    bookkeeping.next_batch(1)
    complete_sweep(bookkeeping, NOW + LEASE)
    assert bookkeeping.sweep_at == late + timedelta(milliseconds=1)
    complete_sweep(bookkeeping, late + timedelta(milliseconds=1))
    assert not bookkeeping.leaves_entries_behind()


def test_no_sweep_while_memory_is_full_but_one_a_beat_later() -> None:
    bookkeeping = book(max_in_memory=1)
    bookkeeping.hold([entry(1)])
    assert bookkeeping.sweep_room(NOW, batch_size=200) == 0
    assert bookkeeping.sweep_at == NOW + BEAT
    taken = bookkeeping.next_batch(1)
    assert bookkeeping.sweep_room(NOW + BEAT, batch_size=200) == 0  # in flight: still in memory
    bookkeeping.published(taken, taken, taken)
    assert bookkeeping.sweep_room(NOW + BEAT, batch_size=200) == 1


def test_an_expected_entry_is_looked_for_until_its_give_up_time() -> None:
    bookkeeping = book()
    bookkeeping.expect([entry(1)], NOW)
    give_up_at = NOW + LEASE * EXPECT_FOR_LEASES
    bookkeeping.not_found(entry(1), give_up_at - timedelta(milliseconds=1))
    assert bookkeeping.expected() == [entry(1)]
    assert bookkeeping.leaves_entries_behind()
    bookkeeping.not_found(entry(1), give_up_at)
    assert bookkeeping.expected() == []
    assert not bookkeeping.leaves_entries_behind()


def test_an_expected_entry_found_is_held_with_its_renewed_lease() -> None:
    bookkeeping = book()
    bookkeeping.expect([entry(1)], NOW)
    renewed = entry(1, lease_until=NOW + 2 * LEASE)
    bookkeeping.found(renewed)
    assert bookkeeping.expected() == []
    assert bookkeeping.next_batch(10) == [renewed]


def test_an_expected_entry_claimed_by_a_sweep_is_no_longer_looked_for() -> None:
    bookkeeping = book()
    bookkeeping.expect([entry(1)], NOW)
    bookkeeping.swept(NOW, [entry(1)], 10, never_expired)
    assert bookkeeping.expected() == []
    assert bookkeeping.held == 1


def test_an_expected_entry_found_after_a_sweep_claimed_it_is_not_published_twice() -> None:
    # The heartbeat's renewal was under way while the publishing loop's sweep claimed the
    # entry (its lease ran out meanwhile) and took it into a batch: the renewal succeeds too
    # (the entry is ours either way), and must not hold it a second time.
    bookkeeping = book()
    bookkeeping.expect([entry(1)], NOW)
    bookkeeping.swept(NOW, [entry(1)], 10, never_expired)
    assert bookkeeping.next_batch(10) == [entry(1)]
    assert not bookkeeping.found(entry(1, lease_until=NOW + 2 * LEASE))
    assert bookkeeping.held == 0


def test_an_expected_entry_found_while_its_batch_is_in_flight_is_not_published_twice() -> None:
    # A sweep claimed a late insert and its batch is being published when the insert's own
    # caller reports the outcome unknown and the heartbeat then finds it: the entry is ours,
    # and the batch in flight publishes it (seed 2797 of the simulator).
    bookkeeping = book()
    bookkeeping.swept(NOW, [entry(1)], 10, never_expired)
    taken = bookkeeping.next_batch(10)
    bookkeeping.expect([entry(1)], NOW)
    assert not bookkeeping.found(entry(1, lease_until=NOW + 2 * LEASE))
    assert (bookkeeping.held, bookkeeping.in_flight) == (0, 1)

    bookkeeping.published(taken, taken, taken)
    assert (bookkeeping.held, bookkeeping.in_flight) == (0, 0)
    assert not bookkeeping.found(entry(1, lease_until=NOW + 2 * LEASE))  # acknowledged
    assert bookkeeping.held == 0


def test_a_failed_batch_holds_again_what_is_still_ours_only() -> None:
    bookkeeping = book()
    bookkeeping.hold([entry(1), entry(2)])
    taken = bookkeeping.next_batch(10)
    renewed = entry(1, lease_until=NOW + 2 * LEASE)  # entry 2 was taken over meanwhile
    bookkeeping.returned(taken, [renewed])
    assert bookkeeping.in_flight == 0
    assert bookkeeping.next_batch(10) == [renewed]


def test_a_departed_relay_is_swept_for_once_its_leases_ran_out_then_forgotten() -> None:
    bookkeeping = book()
    complete_sweep(bookkeeping, NOW)
    alive_until = NOW + timedelta(seconds=1)
    assert bookkeeping.departed_seen([("b", alive_until), ("a", alive_until)])
    assert bookkeeping.sweep_at == alive_until + BEAT  # our own heartbeat is not a departure
    assert complete_sweep(bookkeeping, alive_until + BEAT) == []  # not all expired yet
    forgotten = complete_sweep(bookkeeping, alive_until + BEAT + timedelta(milliseconds=1))
    assert forgotten == [("b", alive_until)]
    assert complete_sweep(bookkeeping, alive_until + 2 * BEAT) == []


def test_a_departed_relay_is_not_forgotten_after_an_incomplete_sweep() -> None:
    bookkeeping = book()
    bookkeeping.departed_seen([("b", NOW)])
    assert bookkeeping.swept(NOW + LEASE, [entry(1)], 1, lambda until, at: True) == []


def test_unacknowledged_entries_are_held_again_and_acknowledged_ones_wait_for_their_mark() -> None:
    bookkeeping = book()
    bookkeeping.hold([entry(1), entry(2), entry(3)])
    batch = bookkeeping.next_batch(10)
    assert bookkeeping.published(batch, batch, [entry(1), entry(3)]) == 1
    assert bookkeeping.next_batch(10) == [entry(2)]
    assert bookkeeping.to_mark() == [entry(1), entry(3)]
    bookkeeping.marked([entry(1)])
    assert bookkeeping.to_mark() == [entry(3)]


def test_beyond_the_unmarked_cap_the_oldest_acknowledged_entries_are_let_go() -> None:
    bookkeeping = book(max_unmarked=2)
    every = [entry(1), entry(2), entry(3)]
    bookkeeping.published(every, every, every)
    assert bookkeeping.to_mark() == [entry(2), entry(3)]  # a sweep republishes entry 1


def test_an_entry_is_renewed_before_publishing_once_half_its_lease_is_gone() -> None:
    bookkeeping = book()
    assert not bookkeeping.needs_renewal(entry(1), NOW + LEASE / 2 - timedelta(milliseconds=1))
    assert bookkeeping.needs_renewal(entry(1), NOW + LEASE / 2)


def test_there_is_work_while_entries_are_held_or_unmarked_or_a_sweep_is_due() -> None:
    bookkeeping = book()
    complete_sweep(bookkeeping, NOW)
    assert not bookkeeping.has_work(NOW)
    bookkeeping.published([entry(1)], [entry(1)], [entry(1)])
    assert bookkeeping.has_work(NOW)
    bookkeeping.marked([entry(1)])
    assert bookkeeping.has_work(NOW + SWEEP_INTERVAL)


def test_an_entry_reported_after_its_lease_was_removed_is_not_published_again() -> None:
    # A sweep claimed a late insert, published it and removed its lease; only then does the
    # insert's caller read it back (committed after all) or the heartbeat's renewal, applied
    # before the removal, answer: the entry is done, and holding it would publish it twice.
    bookkeeping = book()
    bookkeeping.swept(NOW, [entry(1)], 10, never_expired)
    taken = bookkeeping.next_batch(10)
    bookkeeping.published(taken, taken, taken)
    bookkeeping.expect([entry(1)], NOW)
    bookkeeping.marked(bookkeeping.to_mark())
    bookkeeping.hold([entry(1)])
    assert not bookkeeping.found(entry(1, lease_until=NOW + 2 * LEASE))
    assert bookkeeping.held == 0


def test_published_entries_are_remembered_up_to_a_bound() -> None:
    bookkeeping = RelayBookkeeping(
        owner="a",
        lease=LEASE,
        beat_interval=BEAT,
        max_in_memory=100,
        sweep_interval=SWEEP_INTERVAL,
        remember_published=2,
    )
    every = [entry(1), entry(2), entry(3)]
    bookkeeping.published(every, every, every)
    bookkeeping.marked(every)
    bookkeeping.hold(every)  # entry 1 is forgotten: a report that late publishes it again
    assert bookkeeping.next_batch(10) == [entry(1)]
