"""One owner for every background task of a service: restart with backoff, stop in budget.

    supervisor = TaskSupervisor(give_up_after_seconds=settings.task_give_up_seconds)
    supervisor.start("relay", relay.run, request_stop=relay.request_stop, ready=relay.is_running)
    readiness = Readiness({"relay": supervisor.check("relay"), ...})
    ...
    await supervisor.stop(within_seconds=7)  # in the service's shutdown

- `start(name, factory, *, request_stop=None, ready=None, once=False)`: `factory()` is awaited
  as a task. A task that raises, or returns while the supervisor is not stopping, is logged
  (with its traceback) and started again from `factory()` after a jittered exponential
  backoff; with `once`, returning is the task's normal end.
- A run that lasted `healthy_after_seconds` counts as healthy and resets the backoff. A task
  that keeps failing without a healthy run for longer than `give_up_after_seconds` is given up:
  `on_give_up(name, error)` is called once, by default `exit_process_with_failure`, which logs
  CRITICAL and asks the process to stop with exit status `FAILURE_EXIT_STATUS`, so that an
  orchestrator restarts it. Worst case, a dead task is down for `give_up_after_seconds` plus
  one backoff (`backoff_max_seconds`) before the process exits.
- `check(name)`: a readiness `Check` that fails while the task is down (crashed and waiting
  for its restart, given up or stopped) or while its optional `ready()` says it is not
  working (e.g. a consumer that is not connected).
- `stop(within_seconds)`: calls every `request_stop` (and cancels at once the tasks that have
  none), waits for the tasks within the budget, cancels what is left, and logs the tasks that
  ended with an error.

The process side: the program that runs the service (the CLI) calls
`process_exit.stop_with(callback)` with what stops it gracefully, and after the server returned
exits with `process_exit.status` (0 unless a supervisor gave up). Without a callback the
process is sent SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from order_platform.building_blocks.runtime.backoff import Backoff

log = structlog.get_logger(__name__)

Factory = Callable[[], Awaitable[None]]
GiveUp = Callable[[str, BaseException | None], None]

# EX_SOFTWARE from sysexits.h: an internal failure the process could not recover from.
FAILURE_EXIT_STATUS = 70


class TaskDown(Exception):
    """A supervised task is not running (or not doing its work) right now."""


class ProcessExit:
    """How a supervisor that gave up stops the process, and the status the process exits with."""

    def __init__(self) -> None:
        self.status = 0
        self._stop: Callable[[], None] | None = None

    def stop_with(self, callback: Callable[[], None] | None) -> None:
        """Register what stops this process gracefully (e.g. set the server's `should_exit`)."""
        self._stop = callback

    def fail(self, status: int = FAILURE_EXIT_STATUS) -> None:
        self.status = status
        if self._stop is not None:
            self._stop()
        else:
            os.kill(os.getpid(), signal.SIGTERM)


process_exit = ProcessExit()


def exit_process_with_failure(name: str, error: BaseException | None) -> None:
    """The default last resort: one CRITICAL line, then a graceful stop with a failure status."""
    log.critical(
        "background_task_gave_up",
        task=name,
        error=repr(error),
        exit_status=FAILURE_EXIT_STATUS,
        exc_info=error,
    )
    process_exit.fail(FAILURE_EXIT_STATUS)


@dataclass(slots=True)
class _Supervised:
    name: str
    factory: Factory
    request_stop: Callable[[], None] | None
    ready: Callable[[], bool] | None
    once: bool = False
    task: asyncio.Task[None] | None = None
    finished: bool = False
    running: bool = False
    failures: int = 0  # consecutive failures since the last healthy run
    failing_since: float | None = None
    last_error: BaseException | None = None
    given_up: bool = False
    crashes: list[BaseException] = field(default_factory=list)


class TaskSupervisor:
    def __init__(
        self,
        *,
        give_up_after_seconds: float = 60.0,
        healthy_after_seconds: float = 10.0,
        backoff_base_seconds: float = 0.5,
        backoff_max_seconds: float = 10.0,
        on_give_up: GiveUp = exit_process_with_failure,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._give_up_after = give_up_after_seconds
        self._healthy_after = healthy_after_seconds
        # Equal jitter: replicas do not retry in lockstep, nor much sooner than planned.
        self._backoff = Backoff(backoff_base_seconds, backoff_max_seconds, jitter="equal")
        self._on_give_up = on_give_up
        self._clock = clock
        self._tasks: dict[str, _Supervised] = {}
        self._stopping = asyncio.Event()

    def start(
        self,
        name: str,
        factory: Factory,
        *,
        request_stop: Callable[[], None] | None = None,
        ready: Callable[[], bool] | None = None,
        once: bool = False,
    ) -> None:
        """Run `factory()` as a task named `name`, restarted whenever it dies until `stop`.

        With `once`, a run that returns is the task's end (e.g. preparing storage); it is
        restarted only when it raises.
        """
        if name in self._tasks:
            raise ValueError(f"a task named {name!r} is already supervised")
        supervised = _Supervised(name, factory, request_stop, ready, once)
        self._tasks[name] = supervised
        supervised.task = asyncio.create_task(self._keep_running(supervised), name=name)

    def down(self) -> dict[str, str]:
        """The tasks that are not working right now, each with why."""
        return {
            name: reason
            for name, supervised in self._tasks.items()
            if (reason := self._why_down(supervised)) is not None
        }

    def check(self, name: str) -> Callable[[], Awaitable[None]]:
        """A readiness check that fails while the task `name` is down."""

        async def task_is_up() -> None:
            reason = self._why_down(self._tasks[name])
            if reason is not None:
                raise TaskDown(reason)

        return task_is_up

    async def stop(self, within_seconds: float) -> None:
        """Ask every task to stop, wait up to `within_seconds`, cancel the rest.

        A task started without `request_stop` has nothing to finish and is cancelled at once.
        """
        self._stopping.set()
        for supervised in self._tasks.values():
            if supervised.request_stop is not None:
                supervised.request_stop()
            elif supervised.task is not None:
                supervised.task.cancel()  # nothing to finish: no need to wait for it
        tasks = [s.task for s in self._tasks.values() if s.task is not None]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=within_seconds)
        for task in pending:
            log.warning("background_task_did_not_stop_in_time", task=task.get_name())
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        for supervised in self._tasks.values():
            if supervised.crashes:
                log.warning(
                    "background_task_crashes",
                    task=supervised.name,
                    crashes=len(supervised.crashes),
                    last_error=repr(supervised.crashes[-1]),
                )

    def _why_down(self, supervised: _Supervised) -> str | None:
        if supervised.finished:
            return None
        if supervised.given_up:
            return f"given up after {supervised.failures} failures: {supervised.last_error!r}"
        if self._stopping.is_set():
            return "stopping"
        if not supervised.running:
            return f"restarting after {supervised.last_error!r}"
        if supervised.ready is not None and not supervised.ready():
            return "not working yet"
        return None

    async def _keep_running(self, supervised: _Supervised) -> None:
        while not self._stopping.is_set():
            started = self._clock()
            supervised.running = True
            error: BaseException | None = None
            try:
                await supervised.factory()
            except asyncio.CancelledError:
                supervised.running = False
                raise
            except Exception as raised:
                error = raised
            supervised.running = False
            if supervised.once and error is None:
                supervised.finished = True
                return
            if self._stopping.is_set():
                if error is not None:
                    supervised.crashes.append(error)
                return
            now = self._clock()
            if now - started >= self._healthy_after:
                supervised.failures, supervised.failing_since = 0, None
            supervised.failures += 1
            if supervised.failing_since is None:
                supervised.failing_since = started
            supervised.last_error = error or RuntimeError("returned while not stopping")
            supervised.crashes.append(supervised.last_error)
            giving_up = now - supervised.failing_since >= self._give_up_after
            delay = None if giving_up else self._backoff.delay(supervised.failures)
            log.error(
                "background_task_failed",
                task=supervised.name,
                error=repr(supervised.last_error),
                failures=supervised.failures,
                restart_in_seconds=None if delay is None else round(delay, 3),
                exc_info=error,
            )
            if delay is None:
                supervised.given_up = True
                self._on_give_up(supervised.name, supervised.last_error)
                return
            try:
                await asyncio.wait_for(self._stopping.wait(), delay)
            except TimeoutError:
                log.info("background_task_restarting", task=supervised.name)
