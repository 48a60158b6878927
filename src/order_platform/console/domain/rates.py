"""Rates per second from successive scrapes of Prometheus counters (over the last minute)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping

SeriesKey = tuple[str, tuple[tuple[str, str], ...]]  # sample name, sorted labels


def series_key(name: str, labels: Mapping[str, str]) -> SeriesKey:
    return name, tuple(sorted(labels.items()))


class CounterHistory:
    """The counters of one scrape target over a sliding window; a gap in scrapes (the target
    was down) or a restart (a counter went down) starts its series over."""

    def __init__(self, window_seconds: float = 60.0) -> None:
        self._window = window_seconds
        self._scrapes: deque[tuple[float, dict[SeriesKey, float]]] = deque()

    def add(self, at: float, counters: dict[SeriesKey, float]) -> None:
        self._scrapes.append((at, counters))
        while self._scrapes and self._scrapes[0][0] < at - self._window:
            self._scrapes.popleft()

    def rate(
        self, name: str, where: Callable[[dict[str, str]], bool] | None = None, **labels: str
    ) -> float | None:
        """Per second over the window, summed over the series whose labels include `labels`
        (and satisfy `where`); None with fewer than two scrapes."""
        if len(self._scrapes) < 2:
            return None
        (first_at, first), (last_at, last) = self._scrapes[0], self._scrapes[-1]
        if last_at <= first_at:
            return None
        total = 0.0
        for key, value in last.items():
            sample, sample_labels = key
            if sample != name or not _matches(sample_labels, labels):
                continue
            if where is not None and not where(dict(sample_labels)):
                continue
            before = first.get(key, 0.0)
            total += value - before if value >= before else value  # a reset: counted from 0
        return total / (last_at - first_at)

    def clear(self) -> None:
        self._scrapes.clear()


def _matches(sample_labels: tuple[tuple[str, str], ...], wanted: Mapping[str, str]) -> bool:
    have = dict(sample_labels)
    return all(have.get(name) == value for name, value in wanted.items())
