"""The outbox relay: moves committed events from MongoDB to Kafka, at least once.

Fast path: the unit of work hands each committed entry to `notify`, so an event is published
within milliseconds without the relay reading it back; removing published entries happens
behind, in batches, so it never delays the next publish. Slow path: when a relay's heartbeat
runs out (it crashed, or a previous run left entries), the others sweep for entries whose
lease expired and publish them, so nothing is stranded. An entry leaves MongoDB only after
the broker acknowledged it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from prometheus_client import Counter

from order_platform.order_service.application.ports import Clock
from order_platform.order_service.infrastructure.kafka_publisher import PublishFailed
from order_platform.order_service.infrastructure.outbox import MongoOutbox, OutboxEntry
from order_platform.order_service.infrastructure.relay_registry import RelayRegistry

log = structlog.get_logger(__name__)

PUBLISHED = Counter("outbox_published_total", "Outbox events the broker acknowledged")
PUBLISH_FAILURES = Counter(
    "outbox_publish_failures_total", "Publish attempts that failed (retried with backoff)"
)


class Publisher(Protocol):
    async def publish(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]: ...


class OutboxRelay:
    def __init__(
        self,
        outbox: MongoOutbox,
        registry: RelayRegistry,
        publisher: Publisher,
        clock: Clock,
        *,
        batch_size: int = 200,
        max_backoff: timedelta = timedelta(seconds=5),
        max_in_memory: int = 50_000,
    ) -> None:
        self._outbox = outbox
        self._registry = registry
        self._publisher = publisher
        self._clock = clock
        self._batch_size = batch_size
        self._max_backoff = max_backoff.total_seconds()
        # Beyond this many held entries (a long broker outage under load) new ones are left
        # in MongoDB for a later sweep: nothing is lost and memory stays bounded.
        self._max_in_memory = max_in_memory
        # Held entries by event id: a sweep that re-claims one we already hold adds nothing.
        self._pending: dict[str, OutboxEntry] = {}
        self._published: list[OutboxEntry] = []  # acknowledged, not yet removed
        self._wake = asyncio.Event()
        self._wake_remover = asyncio.Event()
        self._sweep_due = True  # at start: an earlier run may have left entries
        self._departed: list[tuple[str, datetime]] = []
        self._dropped = False
        self.published = 0
        self.failures = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def oldest_pending_age(self) -> float:
        """Seconds since the oldest held entry's order was created; 0 when none is held."""
        if not self._pending:
            return 0.0
        oldest = min(entry.created_at for entry in self._pending.values())
        return max((self._clock.now() - oldest).total_seconds(), 0.0)

    def notify(self, entries: Sequence[OutboxEntry]) -> None:
        """Called right after a commit: publish these soon."""
        self._hold(entries)
        self._wake.set()

    async def run(self) -> None:
        """Publish until cancelled; a broker or database outage only slows it down."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._publish_forever())
            tasks.create_task(self._remove_forever())

    async def drain(self, within_seconds: float) -> None:
        """On shutdown: publish what is held and remove what was published, in bounded time."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_seconds
        with contextlib.suppress(Exception):  # whatever is left is safe in MongoDB
            while self._pending and loop.time() < deadline:
                await asyncio.wait_for(self._publish_batch(), deadline - loop.time())
            await asyncio.wait_for(self._remove_published(), max(deadline - loop.time(), 0.1))
        if self._pending or self._published:
            log.info("outbox_relay_left_pending", entries=len(self._pending) + len(self._published))
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._registry.leave(), 1.0)

    def _hold(self, entries: Sequence[OutboxEntry]) -> None:
        for entry in entries:
            if len(self._pending) >= self._max_in_memory:
                self._dropped = True
                return
            self._pending.setdefault(entry.event_id, entry)

    async def _publish_forever(self) -> None:
        failures = 0
        loop = asyncio.get_running_loop()
        next_beat = loop.time()
        while True:
            try:
                if loop.time() >= next_beat:
                    await self._beat()
                    next_beat = loop.time() + self._registry.beat_interval.total_seconds()
                if self._sweep_due:
                    await self._sweep()
                if self._pending:
                    await self._publish_batch()
                failures = 0
            except Exception as error:
                failures += 1
                self.failures += 1
                PUBLISH_FAILURES.inc()
                delay = self._backoff(failures)
                log.warning("outbox_relay_retrying", error=str(error), retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            if not self._pending:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(next_beat - loop.time(), 0))

    async def _beat(self) -> None:
        now = self._clock.now()
        await self._registry.beat(now)
        departed = await self._registry.departed(now)
        if departed or self._dropped:
            self._sweep_due = True
        self._departed = departed

    async def _sweep(self) -> None:
        now = self._clock.now()
        claimed = await self._outbox.claim_expired(now, self._batch_size)
        if claimed:
            log.info("outbox_entries_claimed", entries=len(claimed))
            self._hold(claimed)
        if len(claimed) < self._batch_size:  # complete: nothing expired is left unclaimed
            self._sweep_due = False
            self._dropped = False
            for owner, alive_until in self._departed:
                if self._registry.fully_expired(alive_until, now):
                    await self._registry.forget(owner, alive_until)

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
        self._published.extend(acknowledged)
        self._wake_remover.set()
        if len(acknowledged) < len(batch):
            raise PublishFailed(f"{len(batch) - len(acknowledged)} events not acknowledged")

    async def _remove_forever(self) -> None:
        failures = 0
        while True:
            await self._wake_remover.wait()
            self._wake_remover.clear()
            try:
                await self._remove_published()
                failures = 0
            except Exception as error:
                # They stay leased to us; if we die first they are published again (at least once).
                failures += 1
                log.warning("outbox_removal_retrying", error=str(error))
                await asyncio.sleep(self._backoff(failures))
                self._wake_remover.set()

    async def _remove_published(self) -> None:
        # Everything acknowledged since the last removal goes in one bulk write.
        while self._published:
            batch, self._published = self._published, []
            try:
                await self._outbox.remove_published(batch)
            except BaseException:
                self._published[:0] = batch
                raise

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
        return kept

    def _backoff(self, failures: int) -> float:
        # Full jitter: replicas that lost the broker together do not return in lockstep.
        return random.uniform(0, min(self._max_backoff, 0.1 * 2**failures))
