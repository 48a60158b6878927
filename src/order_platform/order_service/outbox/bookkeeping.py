"""What an outbox relay remembers between its calls to MongoDB and Kafka, and what it decides
from that: which entries to publish next, which inserts to look for, when to sweep.

Pure (no I/O, no asyncio), so every rule here is tested on its own; `OutboxRelay` does the I/O
and asks this class what to do. Nothing remembered here decides whether an entry gets
published (its lease does, see `entry`), only how soon.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from order_platform.order_service.outbox.entry import OutboxEntry

# How long an insert whose outcome was unknown is looked for by `_id` before the safety-net
# sweep is left to find it, in lease periods.
EXPECT_FOR_LEASES = 6
# Acknowledged entries whose lease removal failed (MongoDB away) are retried; beyond this many
# the oldest are let go: a sweep will publish them once more, which consumers deduplicate.
MAX_UNMARKED = 10_000
# Published entries remembered after their lease removal, so that a late report of one (an
# insert's caller learning long after a sweep published it) does not publish it again.
REMEMBER_PUBLISHED = 10_000

Departed = tuple[str, datetime]  # a relay whose heartbeat ran out, and when it ran out
# Whether every entry a relay departed at `alive_until` left has an expired lease by `now`.
FullyExpired = Callable[[datetime, datetime], bool]


class RelayBookkeeping:
    def __init__(
        self,
        *,
        owner: str,
        lease: timedelta,
        beat_interval: timedelta,
        max_in_memory: int,
        sweep_interval: timedelta,
        max_unmarked: int = MAX_UNMARKED,
        remember_published: int = REMEMBER_PUBLISHED,
    ) -> None:
        self._owner = owner
        self._lease = lease
        self._beat_interval = beat_interval
        # Beyond this many held entries (a long broker outage under load) new ones are left
        # in MongoDB for a sweep once their leases expire: nothing is lost, memory is bounded.
        self._max_in_memory = max_in_memory
        self._sweep_interval = sweep_interval
        self._max_unmarked = max_unmarked
        self._remember_published = remember_published
        # Held entries by event id: a sweep that re-claims one we already hold adds nothing.
        self._held: dict[str, OutboxEntry] = {}
        # Taken into a batch that is being published: not held, and not to be held again by
        # anyone but that batch's outcome (`returned` or `published`).
        self._in_flight: dict[str, OutboxEntry] = {}
        # Inserts whose outcome is unknown, by event id, with when to stop looking for them.
        self._expected: dict[str, tuple[OutboxEntry, datetime]] = {}
        # Acknowledged by the broker, lease not removed yet.
        self._unmarked: dict[str, OutboxEntry] = {}
        # Published and lease removed, the latest `remember_published` (insertion-ordered).
        self._published: dict[str, None] = {}
        self._sweep_at: datetime | None = None  # none yet: an earlier run may have left entries
        # The latest lease among entries dropped at the cap: a complete sweep after it finds all.
        self._dropped_until: datetime | None = None
        self._departed: list[Departed] = []

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def unmarked(self) -> int:
        return len(self._unmarked)

    @property
    def sweep_at(self) -> datetime | None:
        return self._sweep_at

    def oldest_held_created_at(self) -> datetime | None:
        return min((entry.created_at for entry in self._held.values()), default=None)

    def left_behind(self) -> int:
        """Entries that stay in MongoDB under our leases if we stop now, for the others to
        sweep; with none (and nothing dropped), this relay may leave at once."""
        return len(self._held) + len(self._expected)

    def leaves_entries_behind(self) -> bool:
        return bool(self.left_behind()) or self._dropped_until is not None

    def has_work(self, now: datetime) -> bool:
        return bool(self._held or self._unmarked) or self.sweep_due(now)

    def hold(self, entries: Sequence[OutboxEntry]) -> bool:
        """Hold these to publish; beyond the cap, leave them for a sweep. True when that
        brought the next sweep forward (the publishing loop may be asleep until a later one).

        An entry in a batch being published, or published already, is not held again: one path
        can learn of an entry while or after another published it (a lost insert's lookup, or
        its caller's read-back, after a sweep claimed it), and holding it twice would publish
        it twice."""
        sooner = False
        for entry in entries:
            if self._published_or_publishing(entry.event_id):
                continue
            if entry.event_id in self._held:
                self._held[entry.event_id] = entry  # the fresher lease
                continue
            if len(self._held) + len(self._in_flight) >= self._max_in_memory:
                # Left in MongoDB under our lease; once that lease has run out, a sweep finds it.
                if self._dropped_until is None or entry.lease_until > self._dropped_until:
                    self._dropped_until = entry.lease_until
                sooner |= self._schedule_sweep(self._dropped_until)
                continue
            self._held[entry.event_id] = entry
        return sooner

    def expect(self, entries: Sequence[OutboxEntry], now: datetime) -> None:
        """Inserts whose reply was lost: look for them for a while."""
        give_up_at = now + self._lease * EXPECT_FOR_LEASES
        for entry in entries:
            self._expected[entry.event_id] = (entry, give_up_at)

    def expected(self) -> list[OutboxEntry]:
        return [entry for entry, _ in self._expected.values()]

    def found(self, renewed: OutboxEntry) -> bool:
        """An expected entry is stored and still ours: publish it (see `hold`). Unless a sweep
        of ours claimed it while the renewal was under way: then it is held already, or in a
        batch being published, and holding it again would publish it twice."""
        if self._expected.pop(renewed.event_id, None) is None:
            return False
        return self.hold([renewed])

    def not_found(self, entry: OutboxEntry, now: datetime) -> None:
        """Not stored, or taken over by a sweep: past its give-up time, stop looking. Should it
        land later still, its lease will have run out and a sweep claims it."""
        expected = self._expected.get(entry.event_id)
        if expected is not None and now >= expected[1]:
            del self._expected[entry.event_id]

    def departed_seen(self, departed: Sequence[Departed]) -> bool:
        """The relays whose heartbeat ran out, as of this beat. True when that brought the next
        sweep forward."""
        self._departed = [(owner, until) for owner, until in departed if owner != self._owner]
        sooner = False
        for _, alive_until in self._departed:
            # Sweep once every entry the departed relay may have left has an expired lease.
            sooner |= self._schedule_sweep(alive_until + self._beat_interval)
        return sooner

    def sweep_due(self, now: datetime) -> bool:
        return self._sweep_at is None or now >= self._sweep_at

    def seconds_until_sweep(self, now: datetime) -> float:
        if self._sweep_at is None:
            return 0.0
        return max((self._sweep_at - now).total_seconds(), 0.0)

    def sweep_room(self, now: datetime, batch_size: int) -> int:
        """How many entries a sweep now may claim; none while memory is full, and then the sweep
        waits a beat (claiming would only drop what it claims)."""
        room = min(batch_size, self._max_in_memory - len(self._held) - len(self._in_flight))
        if room <= 0:
            self._sweep_at = now + self._beat_interval
        return max(room, 0)

    def swept(
        self,
        now: datetime,
        claimed: Sequence[OutboxEntry],
        room: int,
        fully_expired: FullyExpired,
    ) -> list[Departed]:
        """Record a sweep at `now` that claimed `claimed` of at most `room`; return the departed
        relays to forget (everything they left was claimable, and the sweep was complete)."""
        for entry in claimed:
            self._expected.pop(entry.event_id, None)  # landed late, found by the sweep
        forgotten: list[Departed] = []
        if len(claimed) < room:  # complete: nothing expired by `now` is left unclaimed
            self._sweep_at = None
            self._schedule_sweep(now + self._sweep_interval)
            if self._dropped_until is not None:
                if self._dropped_until < now:
                    self._dropped_until = None  # every dropped entry was claimable: all found
                else:
                    self._schedule_sweep(self._dropped_until + timedelta(milliseconds=1))
            forgotten = [d for d in self._departed if fully_expired(d[1], now)]
            self._departed = [d for d in self._departed if d not in forgotten]
        else:
            self._sweep_at = now  # more may be expired: sweep again on the next round
        self.hold(claimed)
        return forgotten

    def next_batch(self, size: int) -> list[OutboxEntry]:
        """Take up to `size` held entries to publish; then `returned` or `published`."""
        event_ids = list(itertools.islice(self._held, size))
        batch = [self._held.pop(event_id) for event_id in event_ids]
        self._in_flight.update((entry.event_id, entry) for entry in batch)
        return batch

    def returned(self, taken: Sequence[OutboxEntry], still_ours: Sequence[OutboxEntry]) -> None:
        """Publishing the batch `taken` failed: hold again what is still ours (an entry
        another relay took over while it waited is theirs to publish)."""
        for entry in taken:
            self._in_flight.pop(entry.event_id, None)
        self.hold(still_ours)

    def needs_renewal(self, entry: OutboxEntry, now: datetime) -> bool:
        """Past the first half of its lease: renew before publishing, so that an entry held
        through a long broker outage is not claimed (and published) by another relay too."""
        return entry.lease_until - now <= self._lease / 2

    def published(
        self,
        taken: Sequence[OutboxEntry],
        batch: Sequence[OutboxEntry],
        acknowledged: Sequence[OutboxEntry],
    ) -> int:
        """Of `taken`, `batch` was still ours and sent; the broker acknowledged `acknowledged`
        of it: their leases are to be removed, the rest is held again. Returns how many were
        not acknowledged."""
        for entry in taken:
            self._in_flight.pop(entry.event_id, None)
        done = {entry.event_id for entry in acknowledged}
        self.hold([entry for entry in batch if entry.event_id not in done])
        for entry in acknowledged:
            self._unmarked[entry.event_id] = entry
        while len(self._unmarked) > self._max_unmarked:
            del self._unmarked[next(iter(self._unmarked))]  # a sweep republishes it, once
        return len(batch) - len(acknowledged)

    def to_mark(self) -> list[OutboxEntry]:
        """Acknowledged entries whose lease is still to be removed."""
        return list(self._unmarked.values())

    def marked(self, entries: Sequence[OutboxEntry]) -> None:
        for entry in entries:
            self._unmarked.pop(entry.event_id, None)
            self._published[entry.event_id] = None
        while len(self._published) > self._remember_published:
            del self._published[next(iter(self._published))]

    def _published_or_publishing(self, event_id: str) -> bool:
        return (
            event_id in self._in_flight or event_id in self._unmarked or event_id in self._published
        )

    def _schedule_sweep(self, at: datetime) -> bool:
        if self._sweep_at is None or at < self._sweep_at:
            self._sweep_at = at
            return True
        return False
