"""Guarantees 2 (exactly-once effect) and 6 (graceful shutdown) with the worker as a process.

The worker runs as an OS process so that SIGKILL is a real crash; its log file is the
product of the default sender, one line per order.
"""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from order_platform.devtools.embedded import PlatformService
from tests.integration.notification_service.webhook_receiver import WebhookReceiver
from tests.support.events import order_created, produce
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow

LINE = re.compile(
    r"📩 Notification sent to (?P<name>.+?) \| Order: (?P<order>[0-9a-f-]{36}) \| Total: \$(?P<total>\d+\.\d\d)"
)


@pytest.fixture
def env(kafka_bootstrap: str, redis_url: str, unique_name: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "ORDER_EVENTS_TOPIC": unique_name,
        "REDIS_URL": redis_url,
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "300",
        "CONSUMER_GROUP": f"{unique_name}-notification-service",
        "NOTIFICATION_DEDUP_KEY_PREFIX": unique_name,
        "NOTIFICATION_BACKOFF_BASE_SECONDS": "0.01",
        "NOTIFICATION_BACKOFF_MAX_SECONDS": "0.1",
        "LOG_FORMAT": "console",
    }


def notified(*services: PlatformService) -> Counter[str]:
    """Order ids of the notification lines in the services' logs, with how often each came."""
    return Counter(match["order"] for service in services for match in LINE.finditer(service.log()))


def deduplicated(service: PlatformService) -> float:
    metrics = httpx.get(f"{service.url}/metrics", timeout=2).text
    found = re.search(r'^notifications_total\{outcome="deduplicated"\} (\S+)$', metrics, re.M)
    return float(found[1]) if found else 0.0


async def test_guarantee_2_one_log_line_per_order_across_crashes_restarts_and_duplicate_publishes(
    env: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = env["ORDER_EVENTS_TOPIC"]
    first = [order_created(customer_name="Lucas", total_amount="199.9") for _ in range(3)]
    later = [order_created(customer_name=f"Ana {n}") for n in range(2)]
    worker = PlatformService("notification-service", env=env, log_dir=tmp_path)

    with worker:
        await produce(kafka_bootstrap, topic, first)
        wait_until(lambda: len(notified(worker)) == 3, what="three notifications")
        worker.kill()  # a crash: whatever was not committed is delivered again

        worker.start()
        await produce(kafka_bootstrap, topic, [*later, first[0]])  # first[0] published twice
        wait_until(lambda: len(notified(worker)) == 5, what="the later notifications")
        wait_until(lambda: deduplicated(worker) >= 1, what="the duplicate publish recognised")

    # A new consumer group reads the topic from the start: every event is redelivered.
    replay_env = {**env, "CONSUMER_GROUP": f"{topic}-replay"}
    with PlatformService("notification-service", env=replay_env, log_dir=tmp_path) as replay:
        wait_until(lambda: deduplicated(replay) == 6, what="all six messages deduplicated")
        assert notified(replay) == Counter()

    lines = notified(worker, replay)
    assert lines == Counter({str(e.order_id): 1 for e in [*first, *later]}), worker.log()
    text = worker.log()
    assert f"📩 Notification sent to Lucas | Order: {first[0].order_id} | Total: $199.90" in text


async def test_guarantee_6_sigterm_finishes_the_send_in_flight_commits_and_exits_within_10_s(
    env: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = env["ORDER_EVENTS_TOPIC"]
    in_flight = order_created()
    key = str(in_flight.order_id).encode()
    with WebhookReceiver() as receiver:
        webhook_env = {
            **env,
            "NOTIFICATION_SENDER": "webhook",
            "NOTIFICATION_WEBHOOK_URL": receiver.url,
        }
        worker = PlatformService("notification-service", env=webhook_env, log_dir=tmp_path)
        receiver.delay_seconds = 1.0
        with worker:
            await produce(kafka_bootstrap, topic, [in_flight.to_json()], key=key)
            wait_until(receiver.in_progress.is_set, what="a notification in flight")
            started = time.monotonic()
            worker.stop()  # SIGTERM; SIGKILL only after 10 s
            took = time.monotonic() - started

            # uvicorn shuts down gracefully, then re-raises the signal: -SIGTERM is clean.
            assert worker.returncode in (0, -signal.SIGTERM), worker.log()
            assert took < 10
            assert "notification_service_stopped" in worker.log()
            assert receiver.event_ids() == {str(in_flight.event_id): 1}, "finished, not dropped"

            receiver.delay_seconds = 0
            worker.start()
            # Same key, same partition: once this one is sent, the one before was handled.
            await produce(kafka_bootstrap, topic, [(after := order_created()).to_json()], key=key)
            wait_until(lambda: str(after.event_id) in receiver.event_ids(), what="the next one")

            redelivered = deduplicated(worker)

    assert receiver.event_ids() == {str(in_flight.event_id): 1, str(after.event_id): 1}
    assert redelivered == 0, "the send in flight was committed, not delivered again"
