"""The outbox relay: moves committed events from MongoDB to Kafka, at least once.

Fast path: the unit of work hands each committed entry to `notify`, so an event is published
within milliseconds without the relay reading it back. Slow path: a periodic sweep claims
entries whose lease expired (their writer died, or an earlier run left them), so nothing is
stranded. Entries leave MongoDB only after the broker acknowledged them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

import structlog

from order_platform.order_service.application.ports import Clock
from order_platform.order_service.infrastructure.kafka_publisher import PublishFailed
from order_platform.order_service.infrastructure.outbox import MongoOutbox, OutboxEntry

log = structlog.get_logger(__name__)


class Publisher(Protocol):
    async def publish(self, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]: ...


class OutboxRelay:
    def __init__(
        self,
        outbox: MongoOutbox,
        publisher: Publisher,
        clock: Clock,
        *,
        sweep_interval: timedelta,
        batch_size: int = 200,
        max_backoff: timedelta = timedelta(seconds=5),
        max_in_memory: int = 50_000,
    ) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._clock = clock
        self._sweep_interval = sweep_interval.total_seconds()
        self._batch_size = batch_size
        self._max_backoff = max_backoff.total_seconds()
        # Beyond this many held entries (a long broker outage under load) new ones are left
        # to the sweep: they are safe in MongoDB and memory stays bounded.
        self._max_in_memory = max_in_memory
        # Held entries by event id: a sweep that re-claims one we already hold adds nothing.
        self._pending: dict[str, OutboxEntry] = {}
        self._wake = asyncio.Event()
        self.published = 0
        self.failures = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def notify(self, entries: Sequence[OutboxEntry]) -> None:
        """Called right after a commit: publish these soon."""
        self._hold(entries)
        self._wake.set()

    def _hold(self, entries: Sequence[OutboxEntry]) -> None:
        for entry in entries:
            if len(self._pending) >= self._max_in_memory:
                return
            self._pending.setdefault(entry.event_id, entry)

    async def run(self) -> None:
        """Publish until cancelled; a broker or database outage only slows it down."""
        failures = 0
        next_sweep = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                if loop.time() >= next_sweep:
                    await self._sweep()
                    next_sweep = loop.time() + self._sweep_interval
                if self._pending:
                    await self._publish_batch()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                self.failures += 1
                delay = self._backoff(failures)
                log.warning("outbox_relay_retrying", error=str(error), retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            if not self._pending:
                self._wake.clear()
                timeout = max(next_sweep - loop.time(), 0.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def drain(self, within_seconds: float) -> None:
        """On shutdown: try to publish what is held, for a bounded time."""
        deadline = asyncio.get_running_loop().time() + within_seconds
        while self._pending and asyncio.get_running_loop().time() < deadline:
            try:
                await asyncio.wait_for(
                    self._publish_batch(), deadline - asyncio.get_running_loop().time()
                )
            except (PublishFailed, TimeoutError):
                break
        if self._pending:
            log.info("outbox_relay_left_pending", entries=len(self._pending))

    async def _sweep(self) -> None:
        claimed = await self._outbox.claim_expired(self._clock.now(), self._batch_size)
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
        # If this write fails the entries are simply published again later: at least once.
        await self._outbox.remove_published(acknowledged)
        self.published += len(acknowledged)
        if len(acknowledged) < len(batch):
            raise PublishFailed(f"{len(batch) - len(acknowledged)} events not acknowledged")

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
