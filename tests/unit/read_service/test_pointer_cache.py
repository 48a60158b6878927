"""The pointer cache: how long a process trusts the generation pointer it last read."""

from __future__ import annotations

import pytest

from order_platform.read_service.application.ports import Generations, ReadModelUnavailable
from order_platform.read_service.infrastructure.pointer_cache import Pointer, PointerCache


class StoredPointer:
    """The pointer's document, a count of its reads, and a switch that makes reads fail."""

    def __init__(self) -> None:
        self.pointer = Pointer("", None, None)
        self.reads = 0
        self.available = True

    async def read(self) -> Pointer:
        self.reads += 1
        if not self.available:
            raise ReadModelUnavailable("the pointer cannot be read")
        return self.pointer


class FakeMonotonic:
    def __init__(self) -> None:
        self.seconds = 100.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def stored() -> StoredPointer:
    return StoredPointer()


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


async def test_a_fresh_answer_is_cached(stored: StoredPointer, clock: FakeMonotonic) -> None:
    cache = PointerCache(stored.read, 1.0, monotonic=clock)
    stored.pointer = Pointer("", "g1", None)
    assert await cache.current() == Generations("", "g1")

    stored.pointer = Pointer("g1", None, None)
    clock.seconds += 0.999

    assert await cache.current() == Generations("", "g1")
    assert stored.reads == 1


async def test_the_pointer_is_read_again_once_the_ttl_has_passed(
    stored: StoredPointer, clock: FakeMonotonic
) -> None:
    cache = PointerCache(stored.read, 1.0, monotonic=clock)
    await cache.current()
    stored.pointer = Pointer("g1", None, None)

    clock.seconds += 1.0

    assert await cache.current() == Generations("g1")
    assert stored.reads == 2
    assert await cache.current() == Generations("g1")  # cached again, from the new read
    assert stored.reads == 2


async def test_after_forget_the_next_answer_is_read(
    stored: StoredPointer, clock: FakeMonotonic
) -> None:
    cache = PointerCache(stored.read, 60.0, monotonic=clock)
    await cache.current()
    stored.pointer = Pointer("g1", None, None)

    cache.forget()

    assert await cache.current() == Generations("g1")
    assert stored.reads == 2


async def test_a_ttl_of_zero_reads_every_time(stored: StoredPointer, clock: FakeMonotonic) -> None:
    cache = PointerCache(stored.read, 0, monotonic=clock)

    for _ in range(3):
        await cache.current()

    assert stored.reads == 3


async def test_a_failed_read_is_not_cached(stored: StoredPointer, clock: FakeMonotonic) -> None:
    cache = PointerCache(stored.read, 60.0, monotonic=clock)
    stored.available = False

    with pytest.raises(ReadModelUnavailable):
        await cache.current()
    stored.available = True

    assert await cache.current() == Generations("")
    assert stored.reads == 2


async def test_an_expired_answer_is_not_served_when_the_read_fails(
    stored: StoredPointer, clock: FakeMonotonic
) -> None:
    cache = PointerCache(stored.read, 1.0, monotonic=clock)
    await cache.current()
    clock.seconds += 1.0
    stored.available = False

    with pytest.raises(ReadModelUnavailable):
        await cache.current()  # not the expired answer, as if the store were there
    assert stored.reads == 2
