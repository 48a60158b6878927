"""The database server's clock, as every replica reads it (`ServerClock`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from order_platform.order_service.application.ports import StorageUnavailable
from order_platform.order_service.outbox.server_clock import ClockNotSynced, ServerClock

SERVER_TIME = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_guarantee_5_nothing_is_stamped_before_the_servers_clock_is_sampled() -> None:
    """Found by the simulator (seed 33632): orders accepted before the first sample carried
    leases and `createdAt` from a wall clock 25 s ahead, so their events were published
    long after the stated bound. Now such a request is told "unavailable, nothing stored"."""
    monotonic = Monotonic()
    ahead = SERVER_TIME + timedelta(seconds=25)

    async def hello() -> dict[str, Any]:
        return {"localTime": SERVER_TIME}

    clock = ServerClock(hello, monotonic=monotonic, wall=lambda: ahead)

    with pytest.raises(ClockNotSynced) as refused:
        clock.now()
    assert isinstance(refused.value, StorageUnavailable)  # a 503, and nothing stored

    await clock.sync()
    monotonic.now += 2.5
    assert clock.now() == SERVER_TIME + timedelta(seconds=2.5)


async def test_a_slow_sample_does_not_replace_a_good_one() -> None:
    monotonic = Monotonic()
    replies = iter([SERVER_TIME, SERVER_TIME + timedelta(seconds=30)])

    async def hello() -> dict[str, Any]:
        reply = next(replies)
        if reply != SERVER_TIME:
            monotonic.now += 3.0  # an answer that took 3 s: too uncertain
        return {"localTime": reply}

    clock = ServerClock(hello, monotonic=monotonic)
    await clock.sync()
    await clock.sync()

    assert clock.now() == SERVER_TIME + timedelta(seconds=3.0)
