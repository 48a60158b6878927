"""The outbox relay: moves committed events from MongoDB to Kafka, at least once.

The relay is the unit of work's `OutboxHandoff`. Fast path: the unit of work hands each
committed entry to `committed`, so an event is published within milliseconds without the
relay reading it back; once the broker acknowledged a batch, its entries are marked and their
documents lose their lease (`Outbox.mark_published`, one batched write). A transition stored
while its document's lease is held by a relay is queued behind it (`queued`): that relay finds
it when it marks what it published, so an order's events go out in order, by one relay at a
time. Slow paths, so that no entry is ever stranded while a relay lives: an entry still
leased after its lease ran out is unpublished, whoever held it, and any relay's sweep claims
it. A sweep runs when a relay's heartbeat runs out (once its leases have too), when this
relay's own dropped entries expire, and every `sweep_interval` as the safety net that makes
every other path an optimisation: an insert whose outcome was unknown (`outcome_unknown`:
looked up by `_id` every beat for a while, so that it follows within a beat if it landed),
entries beyond the in-memory cap, a heartbeat forgotten too early. Nothing the relay
remembers decides whether an entry gets published: only the entry's own lease does, so a
relay's crash, pause or lost reply can delay an event or publish it twice, never lose it.

What the relay remembers and decides from it is `RelayBookkeeping` (pure, tested on its own);
this module does the I/O. Every time compared here comes from one `Clock`, the database
server's in production (see `server_clock`), so replicas whose own clocks disagree agree on
leases and heartbeats.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from prometheus_client import Counter, Gauge

from order_platform.building_blocks.runtime.backoff import Backoff
from order_platform.order_service.application.ports import Clock
from order_platform.order_service.domain import Order
from order_platform.order_service.outbox.bookkeeping import RelayBookkeeping
from order_platform.order_service.outbox.entry import OutboxEntry
from order_platform.order_service.outbox.kafka_publisher import PublishFailed

log = structlog.get_logger(__name__)

PUBLISHED = Counter("outbox_published_total", "Outbox events the broker acknowledged")
PUBLISH_FAILURES = Counter(
    "outbox_publish_failures_total", "Publish attempts that failed (retried with backoff)"
)
LEASE_REMOVAL_FAILURES = Counter(
    "outbox_lease_removal_failures_total",
    "Removals of published entries' leases that failed (MongoDB; retried, nothing republished)",
)
HELD = Gauge(
    "outbox_pending_entries", "Outbox entries this relay holds, not yet acknowledged by Kafka"
)
OLDEST_HELD_AGE = Gauge(
    "outbox_oldest_pending_age_seconds", "Age of the oldest outbox entry this relay holds"
)


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

    async def mark_published(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]: ...


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
        self._book = RelayBookkeeping(
            owner=outbox.owner,
            lease=outbox.lease,
            beat_interval=heartbeats.beat_interval,
            max_in_memory=max_in_memory,
            sweep_interval=sweep_interval,
        )
        self._registered = asyncio.Event()
        self._wake = asyncio.Event()  # the publishing loop sleeps on it until the next sweep
        self._stopping = asyncio.Event()
        self.published = 0
        self.failures = 0

    @property
    def registered(self) -> bool:
        """The first heartbeat, which names this relay to the others, has been recorded."""
        return self._registered.is_set()

    @property
    def pending(self) -> int:
        return self._book.held + self._book.in_flight

    def oldest_pending_age(self) -> float:
        """Seconds since the oldest held entry's order was created; 0 when none is held."""
        oldest = self._book.oldest_held_created_at()
        if oldest is None:
            return 0.0
        return max((self._clock.now() - oldest).total_seconds(), 0.0)

    async def new_entry(self, order: Order) -> OutboxEntry:
        """The outbox entry of `order`, leased to this relay, before its insert."""
        return self._outbox.new_entry(order)

    def committed(self, entries: Sequence[OutboxEntry]) -> None:
        """Called right after a commit: publish these soon."""
        self._book.hold(entries)
        self._wake.set()

    def outcome_unknown(self, entries: Sequence[OutboxEntry]) -> None:
        """Called when an insert's reply was lost: publish these soon if they turn out stored
        (if they land later still, a sweep finds them)."""
        self._book.expect(entries, self._clock.now())

    def not_stored(self, entries: Sequence[OutboxEntry]) -> None:
        """Called when an insert surely stored nothing: there is nothing to publish."""

    def queued(self, entries: Sequence[OutboxEntry]) -> None:
        """Called when a transition was stored behind another lease (or its outcome is unknown
        there): the lease's holder publishes it, or a sweep once that lease runs out."""

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

    async def heartbeat(self) -> None:
        """One round of the heartbeat loop: beat, notice departed relays, look for expected
        entries; every beat interval."""
        now = self._clock.now()
        await self._beat(now)
        await self._look_for_expected(now)
        if self._book.has_work(now):
            self._wake.set()

    async def publish_round(self) -> None:
        """One round of the publishing loop: a sweep when due, then a batch of held entries
        published, or the leases of acknowledged ones removed."""
        now = self._clock.now()
        if self._book.sweep_due(now):
            await self._sweep(now)
        if self._book.held:
            await self._publish_batch()
        elif self._book.unmarked:
            await self._mark_published()

    async def drain(self, within_seconds: float) -> None:
        """On shutdown: publish what is held, in bounded time, then leave; with entries left,
        let the heartbeat run out so that the others sweep them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_seconds
        with contextlib.suppress(Exception):  # whatever is left is safe in MongoDB
            while self._book.held and loop.time() < deadline:
                await asyncio.wait_for(self._publish_batch(), deadline - loop.time())
            if self._book.unmarked:
                await asyncio.wait_for(self._mark_published(), max(deadline - loop.time(), 0.5))
        if self._book.leaves_entries_behind():
            # Left in MongoDB under our leases: the heartbeat runs out, and the others sweep.
            log.info("outbox_relay_left_pending", entries=self._book.left_behind())
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._heartbeats.leave(), 1.0)

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
                await self.publish_round()
                failures = 0
            except Exception as error:
                failures += 1
                if isinstance(error, _LeaseRemovalFailed):
                    LEASE_REMOVAL_FAILURES.inc()  # published all the same: not a publish failure
                else:
                    self.failures += 1
                    PUBLISH_FAILURES.inc()
                delay = self._backoff.delay(failures)
                log.warning("outbox_relay_retrying", error=str(error), retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            if not self._book.held:
                self._wake.clear()
                until_sweep = self._book.seconds_until_sweep(self._clock.now())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), until_sweep)

    async def _beat(self, now: datetime) -> None:
        await self._heartbeats.beat(now)
        self._registered.set()
        if self._book.departed_seen(await self._heartbeats.departed(now)):
            self._wake.set()

    async def _look_for_expected(self, now: datetime) -> None:
        for entry in self._book.expected():
            # A renewal is a compare-and-set on our own leased entry: it succeeds only if it
            # is stored and still ours to publish.
            if (renewed := await self._outbox.renew(entry, now)) is not None:
                log.info("outbox_entry_found_after_unknown_outcome", order_id=entry.order_id)
                if self._book.found(renewed):
                    self._wake.set()
            else:
                self._book.not_found(entry, now)

    async def _sweep(self, now: datetime) -> None:
        room = self._book.sweep_room(now, self._batch_size)
        if not room:
            return
        claimed = await self._outbox.claim_expired(now, room)
        if claimed:
            log.info("outbox_entries_claimed", entries=len(claimed))
        for owner, alive_until in self._book.swept(
            now, claimed, room, self._heartbeats.fully_expired
        ):
            await self._heartbeats.forget(owner, alive_until)

    async def _publish_batch(self) -> None:
        taken = batch = self._book.next_batch(self._batch_size)
        try:
            batch = await self._renew_expiring(taken)
            acknowledged = await self._publisher.publish(batch)
        except BaseException:
            self._book.returned(taken, batch)
            raise
        missing = self._book.published(taken, batch, acknowledged)
        self.published += len(acknowledged)
        PUBLISHED.inc(len(acknowledged))
        if missing:
            raise PublishFailed(f"{missing} events not acknowledged")
        await self._mark_published()

    async def _mark_published(self) -> None:
        """Remove the leases of what the broker acknowledged; kept to retry if MongoDB fails."""
        marking = self._book.to_mark()
        try:
            queued_behind = await self._outbox.mark_published(marking)
        except Exception as error:
            raise _LeaseRemovalFailed(str(error)) from error
        self._book.marked(marking)
        self._book.hold(queued_behind)  # transitions stored meanwhile under our lease

    async def _renew_expiring(self, batch: list[OutboxEntry]) -> list[OutboxEntry]:
        """Keep only entries still ours, renewing those past the first half of their lease."""
        now = self._clock.now()
        kept: list[OutboxEntry] = []
        for entry in batch:
            if not self._book.needs_renewal(entry, now):
                kept.append(entry)
            elif (renewed := await self._outbox.renew(entry, now)) is not None:
                kept.append(renewed)
            # else: taken over by another relay's sweep (theirs to publish now), or published
        return kept


class _LeaseRemovalFailed(Exception):
    """Removing acknowledged entries' leases failed: retried like a publish, counted apart."""
