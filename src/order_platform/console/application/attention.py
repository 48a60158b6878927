"""Whether an operator is watching, and so how often the console asks the services.

The page asks for the overview every second while it is open. While nobody has asked for
`watched_for_seconds`, the background loops wait their idle interval instead of their own,
so that an unwatched console costs the services and the broker little; the first request
after that wakes them at once, so the page shows fresh figures from its next refresh on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class Attention:
    def __init__(
        self,
        *,
        idle_interval_seconds: float = 15.0,
        watched_for_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._idle = idle_interval_seconds
        self._watched_for = watched_for_seconds
        self._clock = clock
        self._seen_at: float | None = None
        self._arrived = asyncio.Event()  # replaced by a new one each time it is set

    def watching(self) -> bool:
        return self._seen_at is not None and self._clock() - self._seen_at < self._watched_for

    def seen(self) -> None:
        """Someone asked: the loops keep their own interval, and wake now if they were idle."""
        if not self.watching():
            self._arrived.set()
            self._arrived = asyncio.Event()
        self._seen_at = self._clock()

    def interval(self, watched: float) -> float:
        return watched if self.watching() else max(watched, self._idle)

    async def pause(self, watched: float, started: float, stop: asyncio.Event) -> None:
        """Until the interval that began at `started` (a `time.monotonic()`) is over, `stop`
        is set, or someone starts watching."""
        remaining = self.interval(watched) - (time.monotonic() - started)
        if remaining <= 0:
            return
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._arrived.wait())]
        try:
            await asyncio.wait(waits, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()


async def every(
    interval: float,
    stop: asyncio.Event,
    attention: Attention | None,
    work: Callable[[], Awaitable[object]],
) -> None:
    """`work` every `interval` seconds, or `attention`'s idle interval while nobody watches,
    until `stop`: the console's background loops."""
    attention = attention or Attention(idle_interval_seconds=interval)
    while not stop.is_set():
        started = time.monotonic()
        await work()
        await attention.pause(interval, started, stop)
