"""The pipeline at a glance, from the services' scrapes: per hop its rate over the last
minute, errors, health; the outbox; the lag of each group on each partition and its owner."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from order_platform.console.application.attention import Attention, every
from order_platform.console.application.ports import Scrape, ServiceProbe
from order_platform.console.domain.rates import CounterHistory

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Targets:
    order: Sequence[str]
    read: Sequence[str]
    notification: Sequence[str]
    topic: str
    read_group: str
    notification_group: str


class PipelineMonitor:
    """Scrapes every replica every `interval` seconds and keeps the last minute of counters."""

    def __init__(self, probe: ServiceProbe, targets: Targets, *, window_seconds: float = 60.0):
        self._probe = probe
        self.targets = targets
        self._window = window_seconds
        self._histories: dict[str, CounterHistory] = {}
        self._latest: dict[str, Scrape] = {}
        self.scrapes = 0

    @property
    def urls(self) -> list[str]:
        t = self.targets
        return list(dict.fromkeys([*t.order, *t.read, *t.notification]))

    async def scrape_once(self) -> None:
        scrapes = await asyncio.gather(*(self._probe.scrape(url) for url in self.urls))
        for scrape in scrapes:
            history = self._histories.setdefault(url := scrape.url, CounterHistory(self._window))
            if scrape.error is None:
                history.add(scrape.at, scrape.counters)
            else:
                history.clear()  # counters restart with the process; rates start over
            self._latest[url] = scrape
        self.scrapes += 1

    async def run(
        self, interval: float, stop: asyncio.Event, attention: Attention | None = None
    ) -> None:
        """Every `interval` seconds, or `attention`'s idle interval while nobody watches."""
        await every(interval, stop, attention, self.scrape_once)

    def snapshot(self) -> Json:
        t = self.targets
        return {
            "services": {
                "order-service": self._service(t.order),
                "read-service": self._service(t.read),
                "notification-service": self._service(t.notification),
            },
            "hops": {
                "post": self._post(),
                "outbox": self._outbox(),
                "projection": self._consumer(t.read, t.read_group),
                "notification": self._consumer(t.notification, t.notification_group)
                | self._notifications(),
            },
        }

    def _service(self, urls: Sequence[str]) -> Json:
        replicas: list[Json] = []
        for url in urls:
            scrape = self._latest.get(url)
            if scrape is None:
                replicas.append({"url": url, "state": "unknown", "why": "not scraped yet"})
            elif scrape.error is not None:
                replicas.append({"url": url, "state": "unavailable", "why": scrape.error})
            else:
                failing = {k: v for k, v in scrape.checks.items() if v != "ok"}
                why = "; ".join(f"{k}: {v}" for k, v in failing.items()) or None
                replicas.append(
                    {
                        "url": url,
                        "state": "ready" if scrape.ready else "not ready",
                        "why": why,
                        "checks": scrape.checks,
                    }
                )
        states = {replica["state"] for replica in replicas}
        overall = "ready" if states == {"ready"} else "unavailable"
        if "ready" in states and overall != "ready":
            overall = "degraded"
        elif states <= {"not ready"} and states:
            overall = "not ready"
        return {"state": overall, "replicas": replicas}

    def _available(self, urls: Sequence[str]) -> list[str]:
        return [u for u in urls if (s := self._latest.get(u)) is not None and s.error is None]

    def _rate(self, urls: Sequence[str], name: str, **labels: Any) -> float | None:
        rates = [
            rate
            for url in self._available(urls)
            if (rate := self._histories[url].rate(name, **labels)) is not None
        ]
        return round(sum(rates), 2) if rates else None

    def _gauges(self, urls: Sequence[str], name: str) -> list[tuple[str, dict[str, str], float]]:
        found = []
        for url in self._available(urls):
            for (sample, labels), value in self._latest[url].gauges.items():
                if sample == name:
                    found.append((url, dict(labels), value))
        return found

    def _post(self) -> Json:
        urls = self.targets.order
        post = {"method": "POST", "route": "/orders"}
        return {
            "available": bool(self._available(urls)),
            "rate": self._rate(urls, "http_requests_total", where=_status("2"), **post),
            "rejected": self._rate(urls, "http_requests_total", where=_status("4"), **post),
            "errors": self._rate(urls, "http_requests_total", where=_status("5"), **post),
        }

    def _outbox(self) -> Json:
        urls = self.targets.order
        pending = self._gauges(urls, "outbox_pending_entries")
        ages = self._gauges(urls, "outbox_oldest_pending_age_seconds")
        return {
            "available": bool(self._available(urls)),
            "rate": self._rate(urls, "outbox_published_total"),
            "errors": self._rate(urls, "outbox_publish_failures_total"),
            "pending": sum(value for _, _, value in pending) if pending else None,
            "oldestAgeSeconds": round(max(v for _, _, v in ages), 3) if ages else None,
        }

    def _consumer(self, urls: Sequence[str], group: str) -> Json:
        topic = self.targets.topic
        lag: dict[int, float] = {}
        owners: dict[int, list[str]] = {}
        for _url, labels, value in self._gauges(urls, "consumer_lag"):
            if labels.get("group") == group and labels.get("topic") == topic:
                partition = int(labels["partition"])
                lag[partition] = max(lag.get(partition, 0.0), value)
        for url, labels, value in self._gauges(urls, "consumer_partition_owned"):
            if labels.get("group") == group and labels.get("topic") == topic and value >= 1:
                owners.setdefault(int(labels["partition"]), []).append(url)
        return {
            "available": bool(self._available(urls)),
            "group": group,
            "rate": self._rate(urls, "consumer_events_total", group=group, outcome="applied"),
            "errors": self._rate(
                urls, "consumer_events_total", group=group, outcome="dead_lettered"
            ),
            "retried": self._rate(urls, "consumer_events_total", group=group, outcome="retried"),
            "partitions": [
                {"partition": p, "lag": int(lag[p]), "owners": owners.get(p, [])}
                for p in sorted(lag)
            ],
        }

    def _notifications(self) -> Json:
        urls = self.targets.notification
        return {
            "sent": self._rate(urls, "notifications_total", outcome="sent"),
            "sendFailures": self._rate(urls, "notification_failures_total"),
        }


def _status(first_digit: str) -> Any:
    return lambda labels: labels.get("status", "").startswith(first_digit)
