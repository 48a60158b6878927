"""The generation pointer as stored, and how long a process trusts what it last read of it.

A pure class over a clock, so that the cache's timing can be tested, and simulated, without
a MongoDB server or real time passing.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from order_platform.read_service.application.ports import Generations


@dataclass(frozen=True, slots=True)
class Pointer:
    """The pointer as stored, for operators."""

    active: str
    building: str | None
    heartbeat: datetime | None


class PointerCache:
    """Answers the pointer read at most `ttl_seconds` ago (by `monotonic`), else reads it."""

    def __init__(
        self,
        read: Callable[[], Awaitable[Pointer]],
        ttl_seconds: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._cached: tuple[float, Generations] | None = None  # (fresh until, what was read)

    @property
    def ttl_seconds(self) -> float:
        return self._ttl

    async def current(self) -> Generations:
        # The TTL runs from before the read: an answer is never trusted longer than TTL after
        # it was asked for, however slow the read.
        now = self._monotonic()
        if self._cached is not None and now < self._cached[0]:
            return self._cached[1]
        pointer = await self._read()
        generations = Generations(pointer.active, pointer.building)
        self._cached = (now + self._ttl, generations)
        return generations

    def forget(self) -> None:
        """The next `current` reads (this process changed the pointer itself)."""
        self._cached = None
