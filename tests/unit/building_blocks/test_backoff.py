"""The one backoff policy: growth from the base, the cap, and where each jitter draws."""

from __future__ import annotations

import random

import pytest

from order_platform.building_blocks.runtime.backoff import Backoff


def test_the_ceiling_doubles_from_the_base_after_each_failure() -> None:
    backoff = Backoff(base=0.5, cap=100.0, jitter="none")

    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_no_pause_before_the_first_failure() -> None:
    assert Backoff(base=0.5, cap=10.0).ceiling(0) == 0.0
    assert Backoff(base=0.5, cap=10.0, jitter="none").delay(0) == 0.0


def test_the_cap_bounds_every_pause_however_many_failures() -> None:
    backoff = Backoff(base=0.5, cap=10.0, jitter="none")

    assert [backoff.delay(n) for n in (6, 7, 50, 5000)] == [10.0, 10.0, 10.0, 10.0]


def test_without_a_cap_the_ceiling_keeps_doubling() -> None:
    assert Backoff(base=0.2, jitter="none").delay(3) == pytest.approx(0.8)
    assert Backoff(base=0.2, jitter="none").delay(5000) > 1e300  # and no OverflowError


@pytest.mark.parametrize(
    ("jitter", "low_share"),
    [("full", 0.0), ("equal", 0.5)],
)
def test_jitter_draws_between_its_floor_and_the_ceiling(jitter: str, low_share: float) -> None:
    backoff = Backoff(base=0.1, cap=5.0, jitter=jitter)
    rng = random.Random(12)

    for failures in range(1, 12):
        ceiling = backoff.ceiling(failures)
        draws = [backoff.delay(failures, uniform=rng.uniform) for _ in range(200)]
        assert all(low_share * ceiling <= draw <= ceiling for draw in draws), failures
        # Spread over the range, not stuck at one end: replicas do not retry in lockstep.
        assert min(draws) < low_share * ceiling + 0.2 * ceiling * (1 - low_share)
        assert max(draws) > ceiling - 0.2 * ceiling * (1 - low_share)


@pytest.mark.parametrize(
    ("jitter", "expected_bounds"),
    [("full", (0.0, 4.0)), ("equal", (2.0, 4.0)), ("none", None)],
)
def test_the_draw_is_asked_for_exactly_the_jitter_range(
    jitter: str, expected_bounds: tuple[float, float] | None
) -> None:
    asked: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        asked.append((low, high))
        return high

    delay = Backoff(base=1.0, cap=4.0, jitter=jitter).delay(5, uniform=uniform)

    assert delay == 4.0
    assert asked == ([expected_bounds] if expected_bounds else [])


def test_the_same_seed_gives_the_same_pauses() -> None:
    backoff = Backoff(base=0.1, cap=5.0, jitter="full")

    first = [backoff.delay(n, uniform=random.Random(3).uniform) for n in range(1, 8)]
    again = [backoff.delay(n, uniform=random.Random(3).uniform) for n in range(1, 8)]

    assert first == again


@pytest.mark.parametrize(
    "arguments",
    [
        {"base": -0.1},
        {"base": 0.1, "cap": -1.0},
        {"base": 0.1, "jitter": "half"},
    ],
)
def test_a_policy_that_makes_no_sense_is_refused(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"negative|unknown jitter"):
        Backoff(**arguments)
