"""What an operator sees from the outside: the read side's lag, and an order's log lines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from order_platform.devtools.embedded import PlatformService
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def env(mongodb_uri: str, kafka_bootstrap: str, redis_url: str, unique_name: str) -> dict[str, str]:
    return {
        "MONGODB_URI": mongodb_uri,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "ORDER_EVENTS_TOPIC": unique_name,
        "REDIS_URL": redis_url,
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "300",
        "LOG_FORMAT": "json",
    }


def lag(read: PlatformService) -> float | None:
    """Total lag of the read service's group over all partitions; None before it reports."""
    try:
        metrics = httpx.get(f"{read.url}/metrics", timeout=2).text
    except httpx.TransportError:
        return None
    values = [
        float(v)
        for v in re.findall(r'^consumer_lag\{[^}]*group="[^"]*-reads"[^}]*\} (\S+)$', metrics, re.M)
    ]
    return sum(values) if values else None


def test_lag_rises_while_the_read_side_is_down_and_returns_to_zero(
    env: dict[str, str], unique_name: str, tmp_path: Path
) -> None:
    reads_env = env | {
        "MONGODB_DATABASE": f"{unique_name}-r",
        "CONSUMER_GROUP": f"{unique_name}-reads",
        "CACHE_KEY_PREFIX": f"{unique_name}:",
        "CONSUMER_MAX_BATCH": "2",  # a backlog takes many batches, so the climb is visible
    }
    orders_env = env | {"MONGODB_DATABASE": f"{unique_name}-w"}
    with PlatformService("order-service", env=orders_env, log_dir=tmp_path) as orders:
        read = PlatformService("read-service", env=reads_env, log_dir=tmp_path).start()
        with httpx.Client(base_url=orders.url) as client:
            client.post("/orders", json={"customerName": "First", "totalAmount": 1})
            wait_until(lambda: lag(read) == 0, timeout=20, what="caught up once")
            read.stop()
            for number in range(150):
                assert (
                    client.post(
                        "/orders", json={"customerName": f"C{number}", "totalAmount": 1}
                    ).status_code
                    == 201
                )
        read.start()
        try:
            seen = []
            wait_until(
                lambda: seen.append(lag(read)) or (seen[-1] or 0) > 0,
                timeout=20,
                what="lag above 0",
            )
            wait_until(lambda: lag(read) == 0, timeout=30, what="lag back to 0")
        finally:
            read.stop()


def test_the_order_and_read_services_json_log_lines_carry_the_correlation_id_of_the_post(
    env: dict[str, str], unique_name: str, tmp_path: Path
) -> None:
    with (
        PlatformService(
            "order-service", env=env | {"MONGODB_DATABASE": f"{unique_name}-w"}, log_dir=tmp_path
        ) as orders,
        PlatformService(
            "read-service",
            env=env
            | {
                "MONGODB_DATABASE": f"{unique_name}-r",
                "CONSUMER_GROUP": f"{unique_name}-reads",
                "CACHE_KEY_PREFIX": f"{unique_name}:",
            },
            log_dir=tmp_path,
        ) as read,
    ):
        response = httpx.post(
            f"{orders.url}/orders",
            json={"customerName": "Lucas", "totalAmount": "199.90"},
            headers={"X-Correlation-Id": "checkout-7f3a"},
        )
        order_id = response.json()["id"]

        def projected_line() -> dict[str, str] | None:
            for line in read.log().splitlines():
                if line.startswith("{") and order_id in line:
                    record = json.loads(line)
                    if record.get("event") == "order_projected":
                        return record
            return None

        wait_until(projected_line, timeout=20, what="order_projected logged")
        record = projected_line()
        accepted = [
            json.loads(line)
            for line in orders.log().splitlines()
            if line.startswith("{") and '"order_accepted"' in line
        ]
    # Guarantee 9 of issue 11: the command side logs the order too, so one grep finds it all.
    assert [(a["order_id"], a["correlation_id"]) for a in accepted] == [(order_id, "checkout-7f3a")]
    assert accepted[0]["service"] == "order-service"
    assert record is not None
    assert record["correlation_id"] == "checkout-7f3a"
    assert record["order_id"] == order_id
    assert record["service"] == "order-read-service"
    assert record["level"] == "info"
