"""The outbox relay: moves committed events from MongoDB to Kafka, at least once.

Fast path: the unit of work hands each committed entry to `notify`, so an event is published
within milliseconds without the relay reading it back; once the broker acknowledged a batch,
its entries lose their lease (`Outbox.mark_published`, one batched write). Slow paths, so that
no entry is ever stranded while a relay lives: an entry still leased after its lease ran out
is unpublished, whoever held it, and any relay's sweep claims it. A sweep runs when a relay's
heartbeat runs out (once its leases have too), when this relay's own dropped entries expire,
and every `sweep_interval` as the safety net that makes every other path an optimisation: an
insert whose outcome was unknown (`expect`: looked up by `_id` every beat for a while, so that
it follows within a beat if it landed), entries beyond the in-memory cap, a heartbeat
forgotten too early. Nothing the relay remembers decides whether an entry gets published:
only the entry's own lease does, so a relay's crash, pause or lost reply can delay an event
or publish it twice, never lose it.

Every time compared here comes from one `Clock`, the database server's in production (see
`server_clock`), so replicas whose own clocks disagree agree on leases and heartbeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from prometheus_client import Counter, Gauge

from order_platform.building_blocks.backoff import Backoff
from order_platform.order_service.application.ports import Clock
from order_platform.order_service.domain import Order
from order_platform.order_service.outbox.entry import OutboxEntry
from order_platform.order_service.outbox.kafka_publisher import PublishFailed

log = structlog.get_logger(__name__)

PUBLISHED = Counter("outbox_published_total", "Outbox events the broker acknowledged")
PUBLISH_FAILURES = Counter(
    "outbox_publish_failures_total", "Publish attempts that failed (retried with backoff)"
)
HELD = Gauge(
    "outbox_pending_entries", "Outbox entries this relay holds, not yet acknowledged by Kafka"
)
OLDEST_HELD_AGE = Gauge(
    "outbox_oldest_pending_age_seconds", "Age of the oldest outbox entry this relay holds"
)

# How long an insert whose outcome was unknown is looked for by `_id` before the safety-net
# sweep is left to find it, in lease periods.
EXPECT_FOR_LEASES = 6
# Acknowledged entries whose lease removal failed (MongoDB away) are retried; beyond this many
# the oldest are let go: a sweep will publish them once more, which consumers deduplicate.
MAX_UNMARKED = 10_000


class Publisher(Protocol):
    async def publish(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]: ...


class Outbox(Protocol):
    """Lease operations on the stored entries (`MongoOutbox`)."""

    @property
    def owner(self) -> str: ...

    @property
    def lease(self) -> timedelta: ...

    def new_entry(self, order: Order) -> OutboxEntry: ...

    async def renew(self, entry: OutboxEntry, now: datetime) -> OutboxEntry | None: ...

    async def claim_expired(self, now: datetime, limit: int) -> list[OutboxEntry]: ...

    async def mark_published(self, entries: Sequence[OutboxEntry]) -> None: ...


class Heartbeats(Protocol):
    """The relays' heartbeats (`RelayRegistry`)."""

    @property
    def beat_interval(self) -> timedelta: ...

    async def beat(self, now: datetime) -> None: ...

    async def departed(self, now: datetime) -> list[tuple[str, datetime]]: ...

    def fully_expired(self, alive_until: datetime, now: datetime) -> bool: ...

    async def forget(self, owner: str, alive_until: datetime) -> None: ...

    async def leave(self) -> None: ...


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        heartbeats: Heartbeats,
        publisher: Publisher,
        clock: Clock,
        *,
        batch_size: int = 200,
        max_backoff: timedelta = timedelta(seconds=5),
        max_in_memory: int = 50_000,
        sweep_interval: timedelta = timedelta(seconds=60),
    ) -> None:
        self._outbox = outbox
        self._heartbeats = heartbeats
        self._publisher = publisher
        self._clock = clock
        self._batch_size = batch_size
        # Full jitter: replicas that lost the broker together do not return in lockstep.
        self._backoff = Backoff(0.2, max_backoff.total_seconds(), jitter="full")
        # Beyond this many held entries (a long broker outage under load) new ones are left
        # in MongoDB for a sweep once their leases expire: nothing is lost, memory is bounded.
        self._max_in_memory = max_in_memory
        self._sweep_interval = sweep_interval
        # Held entries by event id: a sweep that re-claims one we already hold adds nothing.
        self._pending: dict[str, OutboxEntry] = {}
        # Inserts whose outcome is unknown, by event id, with when to stop looking for them.
        self._expected: dict[str, tuple[OutboxEntry, datetime]] = {}
        # Acknowledged by the broker, lease not removed yet (see `_mark_published`).
        self._unmarked: dict[str, OutboxEntry] = {}
        self._registered = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._next_beat: datetime | None = None
        self._sweep_at: datetime | None = None  # at start: an earlier run may have left entries
        # The latest lease among entries dropped at the cap: a complete sweep after it finds all.
        self._dropped_until: datetime | None = None
        self._departed: list[tuple[str, datetime]] = []
        self.published = 0
        self.failures = 0

    @property
    def registered(self) -> bool:
        """The first heartbeat, which names this relay to the others, has been recorded."""
        return self._registered.is_set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def oldest_pending_age(self) -> float:
        """Seconds since the oldest held entry's order was created; 0 when none is held."""
        if not self._pending:
            return 0.0
        oldest = min(entry.created_at for entry in self._pending.values())
        return max((self._clock.now() - oldest).total_seconds(), 0.0)

    async def new_entry(self, order: Order) -> OutboxEntry:
        """The outbox entry of `order`, leased to this relay, before its insert."""
        return self._outbox.new_entry(order)

    def notify(self, entries: Sequence[OutboxEntry]) -> None:
        """Called right after a commit: publish these soon."""
        self._hold(entries)
        self._wake.set()

    def expect(self, entries: Sequence[OutboxEntry]) -> None:
        """Called when an insert's reply was lost: publish these soon if they turn out stored
        (if they land later still, a sweep finds them)."""
        give_up_at = self._clock.now() + self._outbox.lease * EXPECT_FOR_LEASES
        for entry in entries:
            self._expected[entry.event_id] = (entry, give_up_at)

    def discard(self, entries: Sequence[OutboxEntry]) -> None:
        """Called when an insert surely stored nothing: there is nothing to publish."""

    def export_metrics(self) -> None:
        """Make this relay the one `outbox_pending_entries` and its age gauge report."""
        HELD.set_function(lambda: self.pending)
        OLDEST_HELD_AGE.set_function(self.oldest_pending_age)

    async def run(self) -> None:
        """Publish until `request_stop`; a broker or database outage only slows it down.

        Heartbeats have a loop of their own: a publish that hangs on a slow broker must not
        make this relay look departed to the others. What is held when it stops is for `drain`.
        """
        async with asyncio.TaskGroup() as tasks:
            loops = [
                tasks.create_task(self._beat_forever()),
                tasks.create_task(self._publish_forever()),
            ]
            await self._stopping.wait()
            for loop in loops:
                loop.cancel()

    def request_stop(self) -> None:
        self._stopping.set()

    async def tick(self) -> None:
        """One round of both loops (for tests): a heartbeat when due, then publishing work."""
        if self._next_beat is None or self._clock.now() >= self._next_beat:
            await self.heartbeat()
        await self._work()

    async def heartbeat(self) -> None:
        """Beat, notice departed relays, look for expected entries; every beat interval."""
        now = self._clock.now()
        self._next_beat = now + self._heartbeats.beat_interval
        await self._beat(now)
        await self._look_for_expected(now)
        sweep_due = self._sweep_at is not None and self._sweep_at <= now
        if self._pending or self._unmarked or sweep_due:
            self._wake.set()

    async def _work(self) -> None:
        now = self._clock.now()
        if self._sweep_at is None or now >= self._sweep_at:
            await self._sweep(now)
        if self._pending:
            await self._publish_batch()
        elif self._unmarked:
            await self._mark_published()

    async def drain(self, within_seconds: float) -> None:
        """On shutdown: publish what is held, in bounded time, then leave; with entries left,
        let the heartbeat run out so that the others sweep them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_seconds
        with contextlib.suppress(Exception):  # whatever is left is safe in MongoDB
            while self._pending and loop.time() < deadline:
                await asyncio.wait_for(self._publish_batch(), deadline - loop.time())
            if self._unmarked:
                await asyncio.wait_for(self._mark_published(), max(deadline - loop.time(), 0.5))
        if self._pending or self._expected or self._dropped_until is not None:
            # Left in MongoDB under our leases: the heartbeat runs out, and the others sweep.
            left = len(self._pending) + len(self._expected)
            log.info("outbox_relay_left_pending", entries=left)
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._heartbeats.leave(), 1.0)

    def _hold(self, entries: Sequence[OutboxEntry]) -> None:
        for entry in entries:
            if entry.event_id in self._pending:
                self._pending[entry.event_id] = entry  # the fresher lease
                continue
            if len(self._pending) >= self._max_in_memory:
                # Left in MongoDB under our lease; once that lease has run out, a sweep
                # finds it.
                if self._dropped_until is None or entry.lease_until > self._dropped_until:
                    self._dropped_until = entry.lease_until
                self._schedule_sweep(self._dropped_until)
                continue
            self._pending[entry.event_id] = entry

    def _schedule_sweep(self, at: datetime) -> None:
        if self._sweep_at is None or at < self._sweep_at:
            self._sweep_at = at
            # The publishing loop may be asleep until the later time: let it wait anew.
            self._wake.set()

    async def _beat_forever(self) -> None:
        failures = 0
        while True:
            try:
                await self.heartbeat()
                failures = 0
            except Exception as error:
                failures += 1
                log.warning("outbox_heartbeat_failed", error=str(error))
            delay = self._heartbeats.beat_interval.total_seconds()
            await asyncio.sleep(min(delay, self._backoff.delay(failures)) if failures else delay)

    async def _publish_forever(self) -> None:
        failures = 0
        while True:
            try:
                await self._work()
                failures = 0
            except Exception as error:
                failures += 1
                self.failures += 1
                PUBLISH_FAILURES.inc()
                delay = self._backoff.delay(failures)
                log.warning("outbox_relay_retrying", error=str(error), retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            if not self._pending:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._seconds_until_sweep())

    def _seconds_until_sweep(self) -> float:
        if self._sweep_at is None:
            return 0.0
        return max((self._sweep_at - self._clock.now()).total_seconds(), 0.0)

    async def _beat(self, now: datetime) -> None:
        await self._heartbeats.beat(now)
        self._registered.set()
        self._departed = [
            (owner, until)
            for owner, until in await self._heartbeats.departed(now)
            if owner != self._outbox.owner
        ]
        for _, alive_until in self._departed:
            # Sweep once every entry the departed relay may have left has an expired lease.
            self._schedule_sweep(alive_until + self._heartbeats.beat_interval)

    async def _look_for_expected(self, now: datetime) -> None:
        for event_id, (entry, give_up_at) in list(self._expected.items()):
            # A renewal is a compare-and-set on our own leased entry: it succeeds only if it
            # is stored and still ours to publish.
            if (renewed := await self._outbox.renew(entry, now)) is not None:
                del self._expected[event_id]
                log.info("outbox_entry_found_after_unknown_outcome", order_id=entry.order_id)
                self._hold([renewed])
            elif now >= give_up_at:
                # Not stored, or taken over by a sweep: either way not ours. Should it land
                # later still, its lease will have run out and a sweep claims it.
                del self._expected[event_id]

    async def _sweep(self, now: datetime) -> None:
        room = min(self._batch_size, self._max_in_memory - len(self._pending))
        if room <= 0:
            # Claiming now would only drop what it claims; look again once memory is freed.
            self._sweep_at = now + self._heartbeats.beat_interval
            return
        claimed = await self._outbox.claim_expired(now, room)
        for entry in claimed:
            self._expected.pop(entry.event_id, None)  # landed late, found by the sweep
        if len(claimed) < room:  # complete: nothing expired by `now` is left unclaimed
            self._sweep_at = None
            self._schedule_sweep(now + self._sweep_interval)
            if self._dropped_until is not None:
                if self._dropped_until < now:
                    self._dropped_until = None  # every dropped entry was claimable: all found
                else:
                    self._schedule_sweep(self._dropped_until + timedelta(milliseconds=1))
            for owner, alive_until in self._departed:
                if self._heartbeats.fully_expired(alive_until, now):
                    # Its entries were all claimable, and this sweep was complete.
                    await self._heartbeats.forget(owner, alive_until)
            self._departed = [
                (owner, until)
                for owner, until in self._departed
                if not self._heartbeats.fully_expired(until, now)
            ]
        else:
            self._sweep_at = now  # more may be expired: sweep again on the next round
        if claimed:
            log.info("outbox_entries_claimed", entries=len(claimed))
            self._hold(claimed)

    async def _publish_batch(self) -> None:
        event_ids = list(itertools.islice(self._pending, self._batch_size))
        batch = [self._pending.pop(event_id) for event_id in event_ids]
        try:
            batch = await self._renew_expiring(batch)
            acknowledged = await self._publisher.publish(batch)
        except BaseException:
            self._hold(batch)
            raise
        done = {entry.event_id for entry in acknowledged}
        self._hold([entry for entry in batch if entry.event_id not in done])
        self.published += len(acknowledged)
        PUBLISHED.inc(len(acknowledged))
        for entry in acknowledged:
            self._unmarked[entry.event_id] = entry
        while len(self._unmarked) > MAX_UNMARKED:
            del self._unmarked[next(iter(self._unmarked))]  # a sweep republishes it, once
        if len(acknowledged) < len(batch):
            raise PublishFailed(f"{len(batch) - len(acknowledged)} events not acknowledged")
        await self._mark_published()

    async def _mark_published(self) -> None:
        """Remove the leases of what the broker acknowledged; kept to retry if MongoDB fails."""
        marking = list(self._unmarked.values())
        await self._outbox.mark_published(marking)
        for entry in marking:
            self._unmarked.pop(entry.event_id, None)

    async def _renew_expiring(self, batch: list[OutboxEntry]) -> list[OutboxEntry]:
        """Keep only entries still ours; renew those whose lease is past its first half.

        Without this, an entry held through a long broker outage would be claimed by another
        replica's sweep too, and both would publish it when the broker returns.
        """
        now = self._clock.now()
        kept: list[OutboxEntry] = []
        for entry in batch:
            if entry.lease_until - now > self._outbox.lease / 2:
                kept.append(entry)
            elif (renewed := await self._outbox.renew(entry, now)) is not None:
                kept.append(renewed)
            # else: taken over by another relay's sweep (theirs to publish now), or published
        return kept
