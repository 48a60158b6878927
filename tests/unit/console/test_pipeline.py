"""The pipeline snapshot from scrapes: parsed with prometheus_client's parser, rates from
successive scrapes, lag and owners per partition, a replica that does not answer."""

from __future__ import annotations

from order_platform.console.application.pipeline import PipelineMonitor, Targets
from order_platform.console.application.ports import Scrape
from order_platform.console.infrastructure.http_services import parse_metrics

ORDER, READ_1, READ_2, WORKER = "http://o", "http://r1", "http://r2", "http://w"


def read_metrics(applied: int, owned: set[int]) -> str:
    lines = [
        "# HELP consumer_events_total Events",
        "# TYPE consumer_events_total counter",
        f'consumer_events_total{{group="reads",outcome="applied"}} {applied}',
        'consumer_events_total{group="reads",outcome="dead_lettered"} 1',
        "# HELP consumer_lag Lag",
        "# TYPE consumer_lag gauge",
        *(f'consumer_lag{{group="reads",topic="t",partition="{p}"}} {p * 2}' for p in range(2)),
        'consumer_lag{group="reads",topic="t.reads.redrive",partition="0"} 99',
        "# HELP consumer_partition_owned Owned",
        "# TYPE consumer_partition_owned gauge",
        *(
            f'consumer_partition_owned{{group="reads",topic="t",partition="{p}"}} {int(p in owned)}'
            for p in range(2)
        ),
    ]
    return "\n".join(lines) + "\n"


ORDER_METRICS = """# HELP http_requests_total Requests
# TYPE http_requests_total counter
http_requests_total{method="POST",route="/orders",status="201"} %d
http_requests_total{method="POST",route="/orders",status="503"} %d
http_requests_total{method="GET",route="/health/ready",status="200"} 1000
# HELP outbox_pending_entries Pending
# TYPE outbox_pending_entries gauge
outbox_pending_entries 3.0
# HELP outbox_oldest_pending_age_seconds Age
# TYPE outbox_oldest_pending_age_seconds gauge
outbox_oldest_pending_age_seconds 1.25
"""


class ScriptedProbe:
    """Each scrape answers the next text of its URL; None is a replica that does not answer."""

    def __init__(self, script: dict[str, list[str | None]]) -> None:
        self.script = script
        self.now = 0.0

    async def scrape(self, url: str) -> Scrape:
        text = self.script[url].pop(0)
        if text is None:
            return Scrape(url, self.now, error="connection refused")
        counters, gauges = parse_metrics(text)
        return Scrape(url, self.now, counters, gauges, True, {"mongodb": "ok"})


def monitor(probe: ScriptedProbe) -> PipelineMonitor:
    return PipelineMonitor(
        probe,
        Targets(
            order=[ORDER],
            read=[READ_1, READ_2],
            notification=[WORKER],
            topic="t",
            read_group="reads",
            notification_group="notifications",
        ),
    )


async def test_rates_lag_owners_and_health_from_two_scrapes() -> None:
    probe = ScriptedProbe(
        {
            ORDER: [ORDER_METRICS % (100, 0), ORDER_METRICS % (120, 2)],
            READ_1: [read_metrics(50, {0}), read_metrics(60, {0})],
            READ_2: [read_metrics(0, {1}), read_metrics(10, {1})],
            WORKER: [None, None],
        }
    )
    pipeline = monitor(probe)
    await pipeline.scrape_once()
    probe.now = 2.0
    await pipeline.scrape_once()

    snapshot = pipeline.snapshot()
    hops = snapshot["hops"]
    assert hops["post"] == {"available": True, "rate": 10.0, "rejected": 0.0, "errors": 1.0}
    assert hops["outbox"]["pending"] == 3.0
    assert hops["outbox"]["oldestAgeSeconds"] == 1.25
    assert hops["projection"]["rate"] == 10.0  # both replicas: (10 + 10) / 2 s
    assert hops["projection"]["partitions"] == [  # the redrive topic's lag is not the topic's
        {"partition": 0, "lag": 0, "owners": [READ_1]},
        {"partition": 1, "lag": 2, "owners": [READ_2]},
    ]
    # The worker does not answer: its part says so, the rest is unaffected.
    assert hops["notification"]["available"] is False
    assert hops["notification"]["rate"] is None
    worker = snapshot["services"]["notification-service"]
    assert worker["state"] == "unavailable"
    assert worker["replicas"][0]["why"] == "connection refused"
    assert snapshot["services"]["read-service"]["state"] == "ready"


async def test_a_replica_that_comes_back_starts_its_rates_over() -> None:
    probe = ScriptedProbe(
        {
            ORDER: [ORDER_METRICS % (100, 0), None, ORDER_METRICS % (5, 0), ORDER_METRICS % (9, 0)],
            READ_1: [read_metrics(0, set())] * 4,
            READ_2: [read_metrics(0, set())] * 4,
            WORKER: [None] * 4,
        }
    )
    pipeline = monitor(probe)
    for now in (0.0, 2.0, 4.0):
        probe.now = now
        await pipeline.scrape_once()
    assert pipeline.snapshot()["hops"]["post"]["rate"] is None  # one scrape since it came back
    probe.now = 6.0
    await pipeline.scrape_once()
    assert pipeline.snapshot()["hops"]["post"]["rate"] == 2.0
