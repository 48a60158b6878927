"""One redrive of a group at a time, whoever asks (the console, `dlq replay`, both at once),
against the embedded broker: each dead letter is sent at most once, and the one that has to
wait is told who holds the group."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from order_platform.building_blocks.http.service_app import Started
from order_platform.building_blocks.runtime.health import Readiness
from order_platform.cli import main
from order_platform.console.application.dead_letters import DeadLetterMonitor
from order_platform.console.application.orders import OrderTracker
from order_platform.console.application.pipeline import PipelineMonitor, Targets
from order_platform.console.entrypoints.web import ConsoleApi, create_app
from order_platform.console.infrastructure.dead_letter_desk import KafkaDeadLetterDesk
from order_platform.contracts import dead_letter_topic, redrive_topic
from order_platform.operations.dead_letter_redrive import DeadLetterRedrive
from order_platform.operations.redrive_lease import (
    LeaseRecord,
    RedriveHeld,
    RedriveLease,
    lease_topic,
)
from tests.support.asgi import serving
from tests.support.events import order_created
from tests.support.kafka_topic import read_topic
from tests.support.waiting import eventually
from tests.unit.console.test_web import FakeHops, FakeStream, NoProbe

GROUP = "projection"
OTHER = "notifications"
HELD = "another redrive of group"


@pytest.fixture
def topic(unique_name: str) -> str:
    return unique_name


@pytest.fixture
def cli_env(kafka_bootstrap: str, topic: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", "false")
    monkeypatch.setenv("ORDER_EVENTS_TOPIC", topic)


async def three_dead_letters(bootstrap: str, topic: str) -> None:
    """As the consumer loop writes them: a copy of the event, the error, where it came from."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for offset in range(3):
            event = order_created(customer_name=f"Bad {offset}")
            await producer.send_and_wait(
                dead_letter_topic(topic, GROUP),
                event.to_json(),
                key=str(event.order_id).encode(),
                headers=[
                    ("event-type", b"OrderCreated"),
                    ("dlq-error", b"handler failed: RuntimeError('bug')"),
                    ("dlq-original-topic", topic.encode()),
                    ("dlq-original-partition", b"0"),
                    ("dlq-original-offset", str(offset).encode()),
                ],
            )
    finally:
        await producer.stop()


async def replay_all() -> int:
    """`order-platform dlq replay --all` in this process (its own event loop, in a thread),
    with the environment of `cli_env`."""
    return await asyncio.to_thread(main, ["dlq", "replay", "--all", "--group", GROUP])


def console_app(bootstrap: str, topic: str) -> FastAPI:
    """The console's HTTP side with its real dead-letter desk (the rest on fakes)."""
    desk = KafkaDeadLetterDesk(bootstrap, topic=topic, enable_idempotence=False, timeout=10.0)
    dead_letters = DeadLetterMonitor(desk, projection_group=GROUP, notification_group=OTHER)
    stream = FakeStream([])
    targets = Targets(["http://o"], ["http://r"], ["http://w"], topic, GROUP, OTHER)

    async def start() -> Started[ConsoleApi]:
        api = ConsoleApi(
            pipeline=PipelineMonitor(NoProbe(), targets),
            orders=OrderTracker(stream, FakeHops(), dead_letters),
            dead_letters=dead_letters,
            stream=stream,
            refresh_ms=1000,
        )
        return Started(api, Readiness({}), lambda: asyncio.sleep(0))

    return create_app(start)


@pytest.fixture
async def console(kafka_bootstrap: str, topic: str) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(console_app(kafka_bootstrap, topic), "localhost:8004") as client:
        client.timeout = httpx.Timeout(60)
        yield client


async def copies(bootstrap: str, topic: str) -> int:
    return len(await read_topic(bootstrap, redrive_topic(topic, GROUP)))


def redrive_request(console: httpx.AsyncClient) -> asyncio.Task[httpx.Response]:
    return asyncio.ensure_future(
        console.post(f"/api/dead-letters/{GROUP}/redrive", json={"all": True})
    )


async def test_a_redrive_is_once_whoever_asks_twice(
    kafka_bootstrap: str,
    topic: str,
    cli_env: None,
    console: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two redrives from the console and one from the command line, at the same moment."""
    await three_dead_letters(kafka_bootstrap, topic)

    first, second = redrive_request(console), redrive_request(console)
    status = await replay_all()
    answers = await asyncio.gather(first, second)

    assert await copies(kafka_bootstrap, topic) == 3, "each dead letter sent once"
    sent = [len(answer.json()["sent"]) for answer in answers if answer.status_code == 200]
    printed = capsys.readouterr()
    if status == 0:
        sent.append(int(printed.out.split("redrove ")[-1].split(",")[0]))
    assert sorted(sent)[-1] == 3, (sent, printed)
    assert sum(sent) == 3, (sent, printed)
    refused = [answer for answer in answers if answer.status_code != 200]
    assert refused, "the console's second request is refused while the first runs"
    for answer in refused:
        assert answer.status_code == 409, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert "another redrive of group" in answer.json()["detail"]
    if status != 0:
        assert status == 4
        assert HELD in printed.err, printed.err


async def test_a_redrive_is_once_whoever_asks_twice_two_command_lines_at_once(
    kafka_bootstrap: str, topic: str, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    await three_dead_letters(kafka_bootstrap, topic)

    statuses = await asyncio.gather(replay_all(), replay_all())

    assert await copies(kafka_bootstrap, topic) == 3, "each dead letter sent once"
    printed = capsys.readouterr()
    assert sorted(statuses) in ([0, 0], [0, 4]), (statuses, printed)
    if sorted(statuses) == [0, 4]:
        assert HELD in printed.err, printed.err
        assert "nothing was sent" in printed.err, printed.err
        assert "redrove 3" in printed.out


async def test_the_one_that_waits_is_told_who_holds_the_group_and_sends_nothing(
    kafka_bootstrap: str,
    topic: str,
    cli_env: None,
    console: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await three_dead_letters(kafka_bootstrap, topic)
    held = RedriveLease(
        kafka_bootstrap,
        topic=topic,
        group=GROUP,
        who="a replay in another terminal",
        ttl_seconds=60,
        request_timeout_ms=10_000,
    )
    await held.acquire()
    try:
        status = await replay_all()
        answer = await console.post(f"/api/dead-letters/{GROUP}/redrive", json={"all": True})
    finally:
        await held.release()

    assert status == 4
    assert f"{HELD} {GROUP} holds it (a replay in another terminal on" in capsys.readouterr().err
    assert answer.status_code == 409, answer.text
    assert "a replay in another terminal" in answer.json()["detail"]
    assert await copies(kafka_bootstrap, topic) == 0
    # Released: the next one sends them, once.
    assert await replay_all() == 0
    assert await copies(kafka_bootstrap, topic) == 3


async def test_a_lease_whose_holder_died_runs_out(kafka_bootstrap: str, topic: str) -> None:
    await three_dead_letters(kafka_bootstrap, topic)
    # The claim of a replay that was killed before it released its lease.
    claim = LeaseRecord(
        "killed", "a replay that was killed", "claim", int(time.time() * 1000), 3000
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(lease_topic(topic, GROUP), claim.to_json(), partition=0)
    finally:
        await producer.stop()
    redrive = DeadLetterRedrive(
        kafka_bootstrap, topic=topic, group=GROUP, enable_idempotence=False, timeout_seconds=5
    )

    async def replayed() -> int:
        with contextlib.suppress(RedriveHeld):
            return len((await redrive.replay(None, again=False, dry_run=False)).sent)
        return 0

    with pytest.raises(RedriveHeld, match="a replay that was killed"):
        await redrive.replay(None, again=False, dry_run=False)
    assert await eventually(replayed, timeout=20, what="the dead holder's lease ran out") == 3
    assert await copies(kafka_bootstrap, topic) == 3
