"""Guarantee 8, the supervisor's decisions: restart with backoff, give up, stop within budget."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from structlog.testing import capture_logs

from order_platform.building_blocks.runtime.task_supervisor import (
    ProcessExit,
    TaskDown,
    TaskSupervisor,
)
from tests.support.waiting import eventually


class GiveUps:
    def __init__(self) -> None:
        self.calls: list[tuple[str, BaseException | None]] = []

    def __call__(self, name: str, error: BaseException | None) -> None:
        self.calls.append((name, error))


class FlakyTask:
    """Fails its first `failures` runs, then runs until asked to stop."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.starts: list[float] = []
        self.stop = asyncio.Event()

    async def __call__(self) -> None:
        self.starts.append(time.monotonic())
        if len(self.starts) <= self.failures:
            raise RuntimeError(f"failure {len(self.starts)}")
        await self.stop.wait()


def supervisor(give_ups: GiveUps, **options: float) -> TaskSupervisor:
    settings = {
        "give_up_after_seconds": 5.0,
        "healthy_after_seconds": 1.0,
        "backoff_base_seconds": 0.04,
        "backoff_max_seconds": 1.0,
    } | options
    return TaskSupervisor(on_give_up=give_ups, **settings)


async def _true(value: object) -> bool:
    return bool(value)


async def test_guarantee_8_a_task_that_dies_is_restarted_with_growing_backoff() -> None:
    give_ups = GiveUps()
    tasks = supervisor(give_ups)
    flaky = FlakyTask(failures=4)
    with capture_logs() as logs:
        tasks.start("flaky", flaky, request_stop=flaky.stop.set)
        await eventually(lambda: _true(len(flaky.starts) == 5), what="four restarts")
        await tasks.check("flaky")()  # up again
        await tasks.stop(within_seconds=1)

    # The pauses it chose, jittered between half and all of base * 2**(n-1), each within its
    # own band, so each is longer than the one before it...
    planned = [e["restart_in_seconds"] for e in logs if e["event"] == "background_task_failed"]
    assert len(planned) == 4, logs
    for n, pause in enumerate(planned):
        assert 0.04 * 2**n / 2 <= pause <= 0.04 * 2**n, planned
    # ...and it waited them out (a busy machine only makes a pause longer, never shorter).
    pauses = [later - earlier for earlier, later in itertools.pairwise(flaky.starts)]
    # (Less a millisecond: the log rounds the pause to one.)
    assert all(w >= p - 0.001 for w, p in zip(pauses, planned, strict=True)), (pauses, planned)
    assert give_ups.calls == []


async def test_a_task_that_returns_while_not_stopping_is_restarted() -> None:
    runs = 0

    async def returns_at_once() -> None:
        nonlocal runs
        runs += 1

    tasks = supervisor(GiveUps())
    tasks.start("returns", returns_at_once)
    await eventually(lambda: _true(runs >= 3), what="restarted after returning")
    await tasks.stop(within_seconds=1)


async def test_a_task_run_once_is_restarted_only_until_it_succeeds() -> None:
    task = FlakyTask(failures=2)
    task.stop.set()  # the third run returns at once: done
    tasks = supervisor(GiveUps())
    tasks.start("prepare", task, once=True)
    check = tasks.check("prepare")

    await eventually(lambda: _true(len(task.starts) == 3 and not tasks.down()), what="done")
    await check()  # finished is not down
    await asyncio.sleep(0.2)  # would be several restarts with this backoff
    assert len(task.starts) == 3
    await tasks.stop(within_seconds=1)


async def test_guarantee_8_a_task_that_cannot_recover_in_bounded_time_is_given_up() -> None:
    give_ups = GiveUps()
    tasks = supervisor(give_ups, give_up_after_seconds=0.3, backoff_max_seconds=0.05)
    flaky = FlakyTask(failures=10_000)
    started = time.monotonic()
    tasks.start("doomed", flaky)

    await eventually(lambda: _true(give_ups.calls), what="given up")
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 0.3 + 0.05 + 1.0, elapsed  # the bound, one backoff, some slack
    [(name, error)] = give_ups.calls
    assert name == "doomed"
    assert isinstance(error, RuntimeError)
    with pytest.raises(TaskDown, match="given up"):
        await tasks.check("doomed")()
    starts = len(flaky.starts)
    await asyncio.sleep(0.1)  # (proving a negative: nothing restarts it any more)
    assert len(flaky.starts) == starts
    assert set(tasks.down()) == {"doomed"}
    await tasks.stop(within_seconds=1)


async def test_a_healthy_run_between_failures_resets_the_give_up_clock() -> None:
    give_ups = GiveUps()
    tasks = supervisor(
        give_ups, give_up_after_seconds=0.25, healthy_after_seconds=0.1, backoff_max_seconds=0.02
    )
    runs = 0

    async def fails_after_a_healthy_run() -> None:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.12)
        raise RuntimeError("after a healthy run")

    tasks.start("flapping", fails_after_a_healthy_run)
    await eventually(lambda: _true(runs >= 5), what="five runs, well past the give-up bound")
    assert give_ups.calls == []
    await tasks.stop(within_seconds=1)


async def test_stop_waits_within_the_budget_then_cancels() -> None:
    tasks = supervisor(GiveUps())
    polite = FlakyTask(failures=0)
    stubborn_cancelled = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stubborn_cancelled.set()
            raise

    tasks.start("polite", polite, request_stop=polite.stop.set)
    tasks.start("stubborn", stubborn, request_stop=lambda: None)  # asked, does not listen
    await eventually(lambda: _true(polite.starts), what="started")

    started = time.monotonic()
    await tasks.stop(within_seconds=0.3)
    elapsed = time.monotonic() - started

    assert 0.3 <= elapsed < 1.5, elapsed  # the budget, not the stubborn task's whim
    assert stubborn_cancelled.is_set()
    assert len(polite.starts) == 1


async def test_a_task_with_nothing_to_finish_is_cancelled_at_once_on_stop() -> None:
    tasks = supervisor(GiveUps())
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    tasks.start("forever", forever)  # no request_stop: nothing in flight to finish
    await asyncio.sleep(0)
    started = time.monotonic()
    await tasks.stop(within_seconds=5)

    assert cancelled.is_set()
    assert time.monotonic() - started < 1  # not the whole budget


async def test_readiness_fails_while_a_task_is_down_or_not_working() -> None:
    tasks = supervisor(GiveUps(), backoff_base_seconds=0.4, backoff_max_seconds=0.4)
    flaky = FlakyTask(failures=1)
    working = False
    tasks.start("worker", flaky, request_stop=flaky.stop.set, ready=lambda: working)

    await eventually(lambda: _true(flaky.starts), what="first run")
    with pytest.raises(TaskDown, match="restarting after RuntimeError"):
        await tasks.check("worker")()  # crashed, waiting for its restart
    await eventually(lambda: _true(len(flaky.starts) == 2), what="restarted")
    with pytest.raises(TaskDown, match="not working"):
        await tasks.check("worker")()
    working = True
    await tasks.check("worker")()
    assert tasks.down() == {}
    await tasks.stop(within_seconds=1)


def test_process_exit_stops_the_process_gracefully_with_a_failure_status() -> None:
    stopped: list[bool] = []
    process = ProcessExit()
    process.stop_with(lambda: stopped.append(True))
    assert process.status == 0

    process.fail()

    assert stopped == [True]
    assert process.status == 70
