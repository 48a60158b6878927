"""LazyProducer: started on first use, stopped when starting fails, rebuilt after a reset."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaConnectionError
from structlog.testing import capture_logs

from order_platform.building_blocks.kafka.producer import LazyProducer


class FakeProducer:
    def __init__(self, *, start_error: BaseException | None = None, hang: str = "") -> None:
        self.start_error = start_error
        self.hang = hang  # "start" or "stop": never returns
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        if self.hang == "start":
            await asyncio.Event().wait()
        if self.start_error is not None:
            raise self.start_error
        self.started = True

    async def stop(self) -> None:
        if self.hang == "stop":
            await asyncio.Event().wait()
        self.stopped = True


class Factory:
    """Hands out the given producers in order, and remembers them."""

    def __init__(self, *producers: FakeProducer) -> None:
        self.waiting = list(producers)
        self.made: list[FakeProducer] = []

    def __call__(self) -> FakeProducer:
        producer = self.waiting.pop(0) if self.waiting else FakeProducer()
        self.made.append(producer)
        return producer


async def test_nothing_is_created_before_the_first_get() -> None:
    factory = Factory()
    producer = LazyProducer(factory, timeout_seconds=1.0)

    await producer.close()

    assert factory.made == []


async def test_the_first_get_starts_one_producer_and_later_gets_reuse_it() -> None:
    factory = Factory()
    started: list[str] = []
    producer = LazyProducer(
        factory, timeout_seconds=1.0, on_started=lambda: started.append("started")
    )

    first = await producer.get()
    second = await producer.get()

    assert first is second is factory.made[0]
    assert first.started
    assert started == ["started"]


async def test_a_producer_that_cannot_start_is_stopped_and_the_next_get_tries_afresh() -> None:
    factory = Factory(FakeProducer(start_error=KafkaConnectionError("no broker")))
    started: list[str] = []
    producer = LazyProducer(
        factory, timeout_seconds=1.0, on_started=lambda: started.append("started")
    )

    with pytest.raises(KafkaConnectionError):
        await producer.get()
    assert factory.made[0].stopped
    assert started == []

    fresh = await producer.get()

    assert fresh is factory.made[1]
    assert fresh.started


async def test_starting_is_bounded_by_the_timeout() -> None:
    factory = Factory(FakeProducer(hang="start"))
    producer = LazyProducer(factory, timeout_seconds=0.05)

    with pytest.raises(TimeoutError):
        await producer.get()

    assert factory.made[0].stopped


async def test_a_reset_stops_the_producer_and_the_next_get_builds_a_new_one() -> None:
    factory = Factory()
    producer = LazyProducer(factory, timeout_seconds=1.0)
    lost = await producer.get()

    await producer.reset()
    fresh = await producer.get()

    assert lost.stopped
    assert fresh is not lost
    assert fresh.started
    assert not fresh.stopped


async def test_a_stop_that_hangs_is_given_up_after_the_timeout_with_a_warning() -> None:
    factory = Factory(FakeProducer(hang="stop"))
    producer = LazyProducer(factory, timeout_seconds=0.05)
    await producer.get()

    with capture_logs() as logs:
        await producer.close()

    assert [entry["event"] for entry in logs] == ["kafka_producer_stop_failed"]
    assert logs[0]["log_level"] == "warning"
    await producer.close()  # closing twice is harmless
    assert len(factory.made) == 1
