"""Time by the database server's clock, so that replicas whose clocks disagree still agree.

Leases and heartbeats are timestamps one replica writes and another compares with its own
"now". With each replica's wall clock, a replica running 20 s ahead would find everybody
else's fresh leases expired and publish their entries too. Reading the server's `localTime`
(in the `hello` reply) and advancing it with this process's monotonic clock puts every replica
on one clock, whatever their own say; the error is at most half the round trip of the sample.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from order_platform.order_service.application.ports import StorageUnavailable

log = structlog.get_logger(__name__)

Hello = Callable[[], Awaitable[dict[str, Any]]]

# A sample whose round trip took longer than this is too uncertain to replace a good one.
MAX_SAMPLE_ROUND_TRIP = 1.0


class ClockNotSynced(StorageUnavailable):
    """No sample of the database server's clock yet; nothing was stored."""


class ServerClock:
    def __init__(
        self,
        hello: Hello,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._hello = hello
        self._monotonic = monotonic
        self._wall = wall  # this process's own clock: only to log how far off it was
        self._base: tuple[datetime, float] | None = None  # server time at a monotonic instant

    async def sync(self) -> None:
        """Take a sample of the server's clock (called at start and with every heartbeat)."""
        sent = self._monotonic()
        reply = await self._hello()
        received = self._monotonic()
        if received - sent > MAX_SAMPLE_ROUND_TRIP and self._base is not None:
            return
        server_time: datetime = reply["localTime"]
        if server_time.tzinfo is None:
            server_time = server_time.replace(tzinfo=UTC)
        if self._base is None:
            skew = (server_time - self._wall()).total_seconds()
            log.info("server_clock_synced", skew_s=round(skew, 3))
        self._base = (server_time, (sent + received) / 2)

    def now(self) -> datetime:
        """The server's time now. Before the first sample there is none to give: a lease or a
        `createdAt` stamped by this process's own clock could be off by as much as the clocks
        disagree (the simulator found orders whose leases ran 35 s instead of 10, published
        long after the stated bound), so whatever asks answers "unavailable" instead."""
        if self._base is None:
            raise ClockNotSynced("the database server's clock has not been sampled yet")
        server_time, at = self._base
        return server_time + timedelta(seconds=self._monotonic() - at)

    async def sync_soon(self, within_seconds: float) -> None:
        """One sample if the server answers in time (at start); else the background has it."""
        try:
            await asyncio.wait_for(self.sync(), within_seconds)
        except Exception as error:
            log.warning("server_clock_not_synced", error=str(error))

    async def wait_synced(self, retry_seconds: float = 1.0) -> None:
        """Return once a sample was taken (retried while the server does not answer)."""
        while self._base is None:
            try:
                await self.sync()
            except Exception as error:
                log.warning("server_clock_not_synced", error=str(error))
                await asyncio.sleep(retry_seconds)

    async def once_synced(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` once a sample is in hand: what compares leases must not start on this
        process's own clock."""
        await self.wait_synced()
        await work()

    async def keep_synced(self, every_seconds: float = 30.0) -> None:
        """Sample the server's clock now and then, until cancelled; a failed sample is retried
        sooner (until the first one, time is this process's own)."""
        while True:
            try:
                await self.sync()
            except Exception as error:
                log.warning("server_clock_not_synced", error=str(error))
                await asyncio.sleep(min(every_seconds, 1.0))
                continue
            await asyncio.sleep(every_seconds)
