"""The read service as a real process: crash in the middle of a backlog, SIGTERM, fuzzing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pymongo import MongoClient
from pymongo.database import Database
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from order_platform.devtools.embedded import PlatformService
from order_platform.read_service.bootstrap import create_http_app
from order_platform.read_service.infrastructure.settings import ReadServiceSettings
from tests.support.events import order_created, produce
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


def service_env(
    mongodb_uri: str, kafka_bootstrap: str, redis_url: str, name: str
) -> dict[str, str]:
    return {
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DATABASE": name,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_ENABLE_IDEMPOTENCE": "false",
        "ORDER_EVENTS_TOPIC": name,
        "CONSUMER_GROUP": f"{name}-reads",
        "REDIS_URL": redis_url,
        "CACHE_KEY_PREFIX": f"{name}:",
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "300",
        "CONSUMER_MAX_BATCH": "250",
        "LOG_FORMAT": "json",
    }


@pytest.fixture
def env(mongodb_uri: str, kafka_bootstrap: str, redis_url: str, unique_name: str) -> dict[str, str]:
    return service_env(mongodb_uri, kafka_bootstrap, redis_url, unique_name)


@pytest.fixture
def database(mongodb_uri: str, unique_name: str) -> Iterator[Database[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    yield client[unique_name]
    client.close()


def walk_all(url: str) -> list[str]:
    ids: list[str] = []
    next_url: str | None = "/orders?limit=200"
    with httpx.Client(base_url=url, timeout=10) as client:
        while next_url:
            response = client.get(next_url)
            assert response.status_code == 200, response.text
            ids += [order["id"] for order in response.json()]
            link = response.links.get("next")
            next_url = link["url"] if link else None
    return ids


async def test_guarantee_2_a_crash_in_the_middle_of_a_backlog_loses_and_doubles_nothing(
    env: dict[str, str], database: Database[dict[str, Any]], tmp_path: Path
) -> None:
    backlog = [order_created(customer_name=f"C{n}") for n in range(5000)]
    await produce(env["KAFKA_BOOTSTRAP_SERVERS"], env["ORDER_EVENTS_TOPIC"], backlog)

    with PlatformService("read-service", env=env, log_dir=tmp_path) as crashed:
        wait_until(
            lambda: database.orders.estimated_document_count() >= 1000,
            timeout=60,
            what="projection under way",
        )
        crashed.kill()
    assert database.orders.estimated_document_count() < len(backlog), "killed mid-backlog"

    with PlatformService("read-service", env=env, log_dir=tmp_path) as restarted:
        # Stored by id first, then listed: the last batch's listing may be a moment behind.
        listed: list[str] = []

        def whole_backlog_listed() -> bool:
            listed[:] = walk_all(restarted.url)
            return len(listed) >= len(backlog)

        wait_until(whole_backlog_listed, timeout=120, interval=0.5, what="whole backlog listed")

    assert database.orders.estimated_document_count() == len(backlog)
    assert len(listed) == len(backlog)
    assert set(listed) == {str(event.order_id) for event in backlog}


async def test_guarantee_6_sigterm_stops_the_read_service_within_10_s(
    env: dict[str, str], tmp_path: Path
) -> None:
    service = PlatformService("read-service", env=env, log_dir=tmp_path).start()
    started = time.monotonic()
    service.stop()
    assert time.monotonic() - started < 10
    assert "read_service_stopped" in service.log()


schema = schemathesis.openapi.from_dict(create_http_app(ReadServiceSettings()).openapi())


@pytest.fixture(scope="module")
def read_service(
    mongodb_uri: str, kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PlatformService]:
    env = service_env(mongodb_uri, kafka_bootstrap, redis_url, "read-fuzzing") | {
        "LOG_LEVEL": "WARNING"
    }
    with PlatformService(
        "read-service", env=env, log_dir=tmp_path_factory.mktemp("fuzz")
    ) as service:
        yield service


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_read_api_fail_or_break_its_schema(
    case: schemathesis.Case, read_service: PlatformService
) -> None:
    case.call_and_validate(
        base_url=read_service.url,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
    )
