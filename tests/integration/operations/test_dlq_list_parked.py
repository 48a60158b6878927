"""`order-platform dlq list --group G` lists the group's parked events too, each with the version
it waits for, read from the store its service parks them in (DESIGN.md, "Order lifecycle")."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from pymongo import AsyncMongoClient

from order_platform.cli import main
from order_platform.devtools.embedded.ports import find_free_port
from order_platform.notification_service.infrastructure.redis_ledger import new_redis_client
from order_platform.notification_service.infrastructure.redis_order_progress import (
    RedisOrderProgress,
)
from order_platform.read_service.domain import OrderChange
from order_platform.read_service.infrastructure.read_model import MongoReadModel
from tests.unit.notification_service.builders import cancelled, shipped


@pytest.fixture
def cli_env(kafka_bootstrap: str, unique_name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The group: the environment's CONSUMER_GROUP, so it is both services' (`--service`)."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", "false")
    monkeypatch.setenv("ORDER_EVENTS_TOPIC", unique_name)
    monkeypatch.setenv("CONSUMER_GROUP", unique_name)
    return unique_name


async def dlq(group: str, *args: str) -> int:
    """`order-platform dlq list …` in this process (its own event loop, in a thread)."""
    return await asyncio.to_thread(main, ["dlq", "list", "--group", group, *args])


async def park_in_read_model(mongodb_uri: str, database: str, *versions: int) -> UUID:
    """Changes of an order whose creation was not projected: each waits for version 1."""
    order = uuid4()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongodb_uri)
    try:
        model = MongoReadModel(client[database])
        at = datetime.now(UTC).replace(microsecond=0)
        changes = [
            OrderChange(uuid4(), order, version, "shipped", at + timedelta(seconds=version))
            for version in versions
        ]
        await model.reveal_changes(await model.stage_changes(changes))
    finally:
        await client.close()
    return order


async def test_the_read_services_parked_events_are_listed_with_the_version_they_wait_for(
    cli_env: str,
    mongodb_uri: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MONGODB_URI", mongodb_uri)
    monkeypatch.setenv("MONGODB_DATABASE", cli_env)
    order = await park_in_read_model(mongodb_uri, cli_env, 3, 2)
    capsys.readouterr()

    assert await dlq(cli_env, "--service", "read-service", "--json") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert await dlq(cli_env, "--service", "read-service", "--limit", "1") == 0
    shown = capsys.readouterr()

    assert [(p["kind"], p["orderId"], p["version"], p["waitingFor"]) for p in lines] == [
        ("parked", str(order), 2, 1),
        ("parked", str(order), 3, 1),
    ]
    assert {p["eventType"] for p in lines} == {"OrderShipped"}
    assert "no dead letters" in shown.out
    assert "not dead" in shown.out
    assert f"order {order}  version 2 OrderShipped  waiting for version 1" in shown.out
    assert "version 3" not in shown.out, "--limit 1"
    assert "there may be more parked events" in shown.out


async def test_the_notifiers_parked_events_are_listed_with_the_version_they_wait_for(
    cli_env: str,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("NOTIFICATION_DEDUP_KEY_PREFIX", cli_env)
    client = new_redis_client(redis_url, timeout_seconds=1)
    orders = RedisOrderProgress(client, key_prefix=cli_env, keep_for=timedelta(minutes=5))
    waiting, untouched = uuid4(), uuid4()
    try:
        await orders.remember_customer(waiting, "Ana")
        await orders.advance(waiting, 2)  # created and confirmed notified: waits for 3
        cancel = cancelled(waiting, version=4)
        await orders.park(cancel)
        await orders.remember_customer(untouched, "Bo")
    finally:
        await client.aclose()
    capsys.readouterr()

    assert await dlq(cli_env, "--service", "notification-service", "--json") == 0
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert await dlq(cli_env, "--service", "notification-service") == 0
    shown = capsys.readouterr().out

    assert line == {
        "kind": "parked",
        "orderId": str(waiting),
        "eventId": str(cancel.event_id),
        "eventType": "OrderCancelled",
        "version": 4,
        "waitingFor": 3,
    }
    assert f"order {waiting}  version 4 OrderCancelled  waiting for version 3" in shown


async def test_the_default_group_names_tell_whose_parked_events_to_list(
    kafka_bootstrap: str,
    redis_url: str,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("ORDER_EVENTS_TOPIC", unique_name)  # no dead letters there
    monkeypatch.delenv("CONSUMER_GROUP", raising=False)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("NOTIFICATION_DEDUP_KEY_PREFIX", unique_name)
    client = new_redis_client(redis_url, timeout_seconds=1)
    orders = RedisOrderProgress(client, key_prefix=unique_name, keep_for=timedelta(minutes=5))
    try:
        await orders.park(shipping := shipped(uuid4()))
    finally:
        await client.aclose()
    capsys.readouterr()

    assert await dlq("notification-service", "--json") == 0
    (line,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (line["eventId"], line["waitingFor"]) == (str(shipping.event_id), 1)

    assert await dlq(unique_name, "--json") == 0
    unknown = capsys.readouterr()
    assert unknown.out == ""
    assert "listing dead letters only (pass --service" in unknown.err


async def test_an_unreachable_store_of_parked_events_is_one_sentence_and_exit_status_3(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = find_free_port()
    monkeypatch.setenv("MONGODB_URI", f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=500")
    monkeypatch.setenv("MONGODB_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    monkeypatch.setenv("REDIS_TIMEOUT_SECONDS", "0.5")
    capsys.readouterr()

    assert await dlq(cli_env, "--service", "read-service") == 3
    reads = capsys.readouterr()
    assert await dlq(cli_env, "--service", "notification-service") == 3
    notifier = capsys.readouterr()

    assert "no dead letters" in reads.out, "the dead letters are listed first"
    assert reads.err.strip() == (
        "order-platform dlq: cannot read the parked events from the read model's MongoDB at "
        f"127.0.0.1:{port}, database order-read-db"
    )
    assert notifier.err.strip() == (
        "order-platform dlq: cannot read the parked events from the notifier's Redis at "
        f"127.0.0.1:{port}"
    )
