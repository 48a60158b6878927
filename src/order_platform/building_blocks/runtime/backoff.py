"""The one retry-pause policy: exponential growth from a base up to a cap, with jitter.

    Backoff(base=0.5, cap=10.0, jitter="equal").delay(failures)

`failures` counts the consecutive failures so far (1 after the first). The ceiling of the pause
is `min(cap, base * 2 ** (failures - 1))`; the jitter draws the pause below it, so that
replicas that failed together do not retry in lockstep:

- `"full"`: anywhere in `[0, ceiling]` (the widest spread; some retries come at once);
- `"equal"`: in `[ceiling / 2, ceiling]` (spread, yet never much shorter than planned);
- `"none"`: exactly the ceiling (a bounded, predictable total, e.g. for dead letters).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Jitter = Literal["full", "equal", "none"]
Uniform = Callable[[float, float], float]


@dataclass(frozen=True, slots=True)
class Backoff:
    base: float  # the ceiling after the first failure
    cap: float = math.inf  # no pause is longer than this
    jitter: Jitter = "equal"

    def __post_init__(self) -> None:
        if self.base < 0 or self.cap < 0:
            raise ValueError(f"base and cap must not be negative: {self!r}")
        if self.jitter not in ("full", "equal", "none"):
            raise ValueError(f"unknown jitter {self.jitter!r}: full, equal or none")

    def ceiling(self, failures: int) -> float:
        """The longest pause after `failures` consecutive failures (0 before the first)."""
        if failures < 1:
            return 0.0
        # Beyond 2 ** 1023 a float overflows; the cap was reached long before.
        return min(self.cap, self.base * 2.0 ** min(failures - 1, 1023))

    def delay(self, failures: int, *, uniform: Uniform = random.uniform) -> float:
        """The pause after `failures` consecutive failures; `uniform` is injectable for tests."""
        ceiling = self.ceiling(failures)
        if self.jitter == "full":
            return uniform(0.0, ceiling)
        if self.jitter == "equal":
            return uniform(ceiling / 2, ceiling)
        return ceiling
