"""The console's loops slow down while nobody watches, and wake when someone comes back."""

from __future__ import annotations

import asyncio
import time

from order_platform.console.application.attention import Attention


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_idle_interval_applies_until_someone_asks_and_again_once_they_left() -> None:
    clock = FakeClock()
    attention = Attention(idle_interval_seconds=15, watched_for_seconds=30, clock=clock)
    assert attention.interval(2) == 15
    attention.seen()
    assert attention.interval(2) == 2
    clock.now += 29
    assert attention.interval(2) == 2
    clock.now += 2
    assert attention.interval(2) == 15
    assert attention.interval(20) == 20  # never faster than the loop's own interval


async def test_an_idle_pause_ends_when_someone_starts_watching() -> None:
    attention = Attention(idle_interval_seconds=3600)
    stop = asyncio.Event()
    pause = asyncio.create_task(attention.pause(1, time.monotonic(), stop))
    await asyncio.sleep(0)
    attention.seen()
    await asyncio.wait_for(pause, 5)  # not the hour


async def test_a_pause_ends_on_stop() -> None:
    attention = Attention(idle_interval_seconds=3600)
    stop = asyncio.Event()
    pause = asyncio.create_task(attention.pause(1, time.monotonic(), stop))
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(pause, 5)
