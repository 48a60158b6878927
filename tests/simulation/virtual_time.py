"""An asyncio event loop on virtual time: deterministic, and as fast as the code allows.

The simulated world does no real I/O, so whenever every task waits, the loop's selector
jumps the clock to the next timer instead of sleeping. With the same callbacks scheduled in
the same order, a run is the same run every time: asyncio picks ready callbacks first in,
first out, and timers by their due time (ties in the order they were scheduled).
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any


class Deadlock(RuntimeError):
    """Every task waits on something that nothing will ever set."""


class _ClockJumpingSelector(selectors.BaseSelector):
    """Holds the loop's self-pipe registration and never reports I/O: a wait is a time jump."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        self._loop = loop
        self._keys: dict[Any, selectors.SelectorKey] = {}

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = selectors.SelectorKey(fileobj, self._fileobj_lookup(fileobj), events, data)
        self._keys[key.fd] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._keys.pop(self._fileobj_lookup(fileobj))

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise Deadlock("no task is ready and no timer is due: every task waits forever")
        self._loop.advance(timeout)
        return []

    def get_map(self) -> dict[Any, selectors.SelectorKey]:
        return self._keys

    def close(self) -> None:
        self._keys.clear()

    @staticmethod
    def _fileobj_lookup(fileobj: Any) -> int:
        return fileobj if isinstance(fileobj, int) else fileobj.fileno()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._now = 0.0
        super().__init__(selector=_ClockJumpingSelector(self))

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(seconds, 0.0)
