"""The operator's story with processes: the webhook receiver is down, notifications end in the
worker's DLQ; it comes back; `order-platform dlq replay --all` sends each of them exactly
once, the read side sees nothing extra, and a second replay sends nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from order_platform.contracts import dead_letter_topic, redrive_topic
from order_platform.devtools.embedded import PlatformService
from tests.integration.notification_service.webhook_receiver import WebhookReceiver
from tests.support.kafka_lag import uncommitted
from tests.support.kafka_topic import read_topic
from tests.support.waiting import eventually, wait_until

pytestmark = pytest.mark.slow

ORDERS = 4


class FlakyReceiver(WebhookReceiver):
    """Answers 503 to everything while `down`, as a receiver that is away does."""

    down = False

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        if not self.down:
            super()._handle(request)
            return
        request.rfile.read(int(request.headers.get("Content-Length", "0")))
        with self._lock:
            self.attempts["(down)"] += 1
        request.send_response(503)
        request.send_header("Content-Length", "0")
        request.end_headers()


def applied(service: PlatformService, group: str) -> float:
    metrics = httpx.get(f"{service.url}/metrics", timeout=2).text
    pattern = rf'^consumer_events_total\{{group="{re.escape(group)}",outcome="applied"\}} (\S+)$'
    found = re.search(pattern, metrics, re.M)
    return float(found[1]) if found else 0.0


def replay(env: dict[str, str], group: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "order_platform.cli", "dlq", "replay", "--group", group, "--all"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_dead_letters_of_a_receiver_that_was_down_are_redriven_once_to_the_worker_only(
    kafka_bootstrap: str, mongodb_uri: str, redis_url: str, unique_name: str, tmp_path: Path
) -> None:
    name = unique_name
    reads_group, worker_group = f"{name}-reads", f"{name}-notifications"
    kafka = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "ORDER_EVENTS_TOPIC": name,
    }
    common = kafka | {
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "300",
        "MONGODB_URI": mongodb_uri,
        "REDIS_URL": redis_url,
        "LOG_FORMAT": "json",
    }
    with FlakyReceiver() as receiver, ExitStack() as stack:
        receiver.down = True
        read = PlatformService(
            "read-service",
            env=common
            | {
                "MONGODB_DATABASE": f"{name}-read",
                "CONSUMER_GROUP": reads_group,
                "CACHE_KEY_PREFIX": f"{name}:",
            },
            log_dir=tmp_path,
        )
        order = PlatformService(
            "order-service",
            env=common | {"MONGODB_DATABASE": f"{name}-write", "OUTBOX_LEASE_SECONDS": "2"},
            log_dir=tmp_path,
        )
        worker = PlatformService(
            "notification-service",
            env=common
            | {
                "CONSUMER_GROUP": worker_group,
                "NOTIFICATION_DEDUP_KEY_PREFIX": worker_group,
                "NOTIFICATION_SENDER": "webhook",
                "NOTIFICATION_WEBHOOK_URL": receiver.url,
                "NOTIFICATION_MAX_ATTEMPTS": "2",
                "NOTIFICATION_BACKOFF_BASE_SECONDS": "0.01",
                "NOTIFICATION_BACKOFF_MAX_SECONDS": "0.05",
            },
            log_dir=tmp_path,
        )
        services = [read, order, worker]
        for service in services:
            stack.callback(service.stop)
        with ThreadPoolExecutor(max_workers=len(services)) as pool:
            list(pool.map(lambda service: service.start(), services))

        async with httpx.AsyncClient(base_url=order.url, timeout=10) as client:
            for n in range(ORDERS):
                body = {"customerName": f"Lucas {n}", "totalAmount": "199.90"}
                response = await client.post("/orders", json=body)
                assert response.status_code == 201, response.text
        dlq = dead_letter_topic(name, worker_group)

        async def all_dead_lettered() -> bool:
            return len(await read_topic(kafka_bootstrap, dlq)) >= ORDERS

        await eventually(
            all_dead_lettered, timeout=60, interval=0.3, what="every notification in the DLQ"
        )
        assert receiver.received == [], "nothing was accepted while it was down"
        wait_until(lambda: applied(read, reads_group) == ORDERS, what="each order projected")

        receiver.down = False
        started = time.monotonic()
        first = replay(kafka, worker_group)
        took = time.monotonic() - started
        assert first.returncode == 0, first.stderr
        assert f"redrove {ORDERS}, skipped 0" in first.stdout, first.stdout
        wait_until(
            lambda: len(receiver.event_ids()) == ORDERS,
            timeout=30,
            what="every notification received once the receiver is back",
        )

        second = replay(kafka, worker_group)
        assert second.returncode == 0, second.stderr
        assert f"redrove 0, skipped 0, {ORDERS} redriven by an earlier replay" in second.stdout
        redrives = redrive_topic(name, worker_group)
        assert len(await read_topic(kafka_bootstrap, redrives)) == ORDERS

        async def worker_done_with_redrives() -> bool:
            return await uncommitted(kafka_bootstrap, redrives, [worker_group]) == {worker_group: 0}

        await eventually(
            worker_done_with_redrives, timeout=20, what="the worker done with the redrives"
        )
        assert set(receiver.event_ids().values()) == {1}, receiver.event_ids()
        assert applied(read, reads_group) == ORDERS, "the read side saw nothing new"
        print(f"replay of {ORDERS} dead letters (process start included): {took:.2f} s")
