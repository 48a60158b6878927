"""`order-platform dlq list|replay` against a real broker and a real consumer group.

The consumer's handler fails for chosen orders until the test "redeploys" it (clears the set),
which is how a dead letter becomes worth redriving.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from uuid import UUID

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from order_platform.building_blocks.kafka.consumer import ConsumerConfig, Delivery
from order_platform.building_blocks.kafka.dead_letters import reference_headers
from order_platform.cli import main
from order_platform.contracts import OrderCreatedV1, dead_letter_topic, redrive_topic
from order_platform.operations.dead_letter_redrive import redrive_group
from tests.support.consumers import consuming, fast_config
from tests.support.events import order_created, produce
from tests.support.kafka_lag import uncommitted
from tests.support.kafka_topic import read_topic
from tests.support.waiting import eventually


class FailingUntilFixed:
    """Applies events, except those of `broken` orders: those fail (a bug, until redeployed)."""

    def __init__(self) -> None:
        self.broken: set[UUID] = set()
        self.applied: Counter[UUID] = Counter()

    async def __call__(self, deliveries: Sequence[Delivery[OrderCreatedV1]]) -> None:
        for delivery in deliveries:
            if delivery.event.order_id in self.broken:
                raise RuntimeError(f"bug with order {delivery.event.order_id}")
        self.applied.update(d.event.order_id for d in deliveries)


@pytest.fixture
def config(kafka_bootstrap: str, unique_name: str) -> ConsumerConfig:
    return fast_config(kafka_bootstrap, unique_name, max_attempts=2)


@pytest.fixture
def cli_env(config: ConsumerConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", config.bootstrap_servers)
    monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", "false")
    monkeypatch.setenv("ORDER_EVENTS_TOPIC", config.topic)


async def dlq(config: ConsumerConfig, *args: str) -> int:
    """`order-platform dlq …` in this process (its own event loop, in a thread)."""
    return await asyncio.to_thread(main, ["dlq", *args, "--group", config.group_id])


async def dead_letters(config: ConsumerConfig, count: int) -> list[ConsumerRecord[bytes, bytes]]:
    topic = dead_letter_topic(config.topic, config.group_id)

    async def enough() -> list[ConsumerRecord[bytes, bytes]] | None:
        letters = await read_topic(config.bootstrap_servers, topic)
        return list(letters) if len(letters) >= count else None

    return await eventually(enough, timeout=30, what=f"{count} dead letters in {topic}")


async def committed(
    bootstrap: str, group: str, tps: Sequence[TopicPartition]
) -> dict[TopicPartition, int | None]:
    client = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await client.start()
    try:
        return {tp: await client.committed(tp) for tp in tps}
    finally:
        await client.stop()


def all_partitions(topic: str, count: int = 4) -> list[TopicPartition]:
    return [TopicPartition(topic, partition) for partition in range(count)]  # Tansu creates 4


async def test_list_is_read_only_and_prints_one_json_object_per_line(
    config: ConsumerConfig, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = [order_created(customer_name=f"Bad {n}") for n in range(2)]
    handler = FailingUntilFixed()
    handler.broken = {event.order_id for event in bad}
    await produce(config.bootstrap_servers, config.topic, [*bad, good := order_created()])
    async with consuming(config, handler):
        await eventually(lambda: _holds(handler.applied[good.order_id]), what="good applied")
        await dead_letters(config, 2)
    dlq_topic = dead_letter_topic(config.topic, config.group_id)
    watched = [
        (config.group_id, all_partitions(config.topic)),
        (redrive_group(config.group_id), all_partitions(dlq_topic)),
    ]
    before = [await committed(config.bootstrap_servers, g, tps) for g, tps in watched]
    capsys.readouterr()

    assert await dlq(config, "list", "--json") == 0
    lines = capsys.readouterr().out.splitlines()
    assert await dlq(config, "list", "--limit", "1") == 0

    after = [await committed(config.bootstrap_servers, g, tps) for g, tps in watched]
    assert after == before, "listing moved no committed offset"
    assert all(offset is None for offset in before[1].values()), "no redrive mark yet"
    letters = [json.loads(line) for line in lines]
    assert {letter["key"] for letter in letters} == {str(event.order_id) for event in bad}
    for letter in letters:
        assert letter["error"].startswith("handler failed: RuntimeError('bug with order")
        assert letter["originalTopic"] == config.topic
        assert isinstance(letter["originalOffset"], int)
        assert letter["redriveCount"] == 0
        assert letter["valuePreview"].startswith("{")
        assert '"customerName":"Bad ' in letter["valuePreview"]
    times = [letter["timestamp"] for letter in letters]
    assert times == sorted(times), "oldest first"
    shown = capsys.readouterr().out
    assert shown.count("error: handler failed") == 1, shown


async def test_replay_all_sends_each_dead_letter_once_and_again_resends(
    config: ConsumerConfig, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = [order_created(customer_name=f"Bad {n}") for n in range(3)]
    handler = FailingUntilFixed()
    handler.broken = {event.order_id for event in bad}
    await produce(config.bootstrap_servers, config.topic, bad)
    redrives = redrive_topic(config.topic, config.group_id)
    async with consuming(config, handler):
        letters = await dead_letters(config, 3)
        handler.broken.clear()  # the fix is deployed

        assert await dlq(config, "replay", "--all", "--dry-run") == 0
        assert capsys.readouterr().out.count("would redrive") == 4  # 3 lines and the summary
        assert await read_topic(config.bootstrap_servers, redrives) == []

        assert await dlq(config, "replay", "--all") == 0
        assert "redrove 3, skipped 0; redrive mark of" in capsys.readouterr().out
        await eventually(
            lambda: _holds(all(handler.applied[e.order_id] == 1 for e in bad)),
            what="each redriven event applied",
        )

        assert await dlq(config, "replay", "--all") == 0
        second = capsys.readouterr().out
        assert "redrove 0, skipped 0, 3 redriven by an earlier replay" in second, second
        one = letters[0]
        assert await dlq(config, "replay", "--offset", f"{one.partition}:{one.offset}") == 0
        assert "already redriven" in capsys.readouterr().out
        assert len(await read_topic(config.bootstrap_servers, redrives)) == 3, "nothing resent"

        args = ["replay", "--offset", f"{one.partition}:{one.offset}", "--again"]
        assert await dlq(config, *args) == 0
        assert f"redrove {one.partition}:{one.offset} -> {redrives}:" in capsys.readouterr().out
        again = OrderCreatedV1.from_json(one.value).order_id
        await eventually(lambda: _holds(handler.applied[again] == 2), what="resent on --again")

        assert await dlq(config, "replay", "--offset", "0:999999") == 1
        assert "skipped 0:999999: no such dead letter" in capsys.readouterr().out

    copies = await read_topic(config.bootstrap_servers, redrives)
    assert len(copies) == 4
    for copy in copies:
        headers = dict(copy.headers)
        assert headers["event-type"] == b"OrderCreated", "the event's own headers travel along"
        assert headers["dlq-original-topic"] == config.topic.encode()
        assert headers["dlq-redrive-count"] == b"1"
        assert "dlq-error" not in headers
    keys = Counter(str(e.order_id).encode() for e in bad) + Counter([one.key])
    assert Counter(copy.key for copy in copies) == keys, "keys kept; once each, twice on --again"


async def test_a_poison_event_fixed_by_a_redeploy_is_redriven_to_its_group_only(
    config: ConsumerConfig, cli_env: None
) -> None:
    poison = order_created()
    mine, other = FailingUntilFixed(), FailingUntilFixed()
    mine.broken = {poison.order_id}
    other_config = replace(config, group_id=f"{config.group_id}-other")
    await produce(config.bootstrap_servers, config.topic, [poison])
    async with consuming(config, mine), consuming(other_config, other):
        await dead_letters(config, 1)
        await eventually(lambda: _holds(other.applied[poison.order_id] == 1), what="other group")
        mine.broken.clear()  # the redeploy
        assert await dlq(config, "replay", "--all") == 0
        await eventually(lambda: _holds(mine.applied[poison.order_id] == 1), what="redriven")

        async def both_idle() -> bool:
            lag = await uncommitted(
                config.bootstrap_servers, config.topic, [config.group_id, other_config.group_id]
            )
            redrives = redrive_topic(config.topic, config.group_id)
            lag |= await uncommitted(config.bootstrap_servers, redrives, [config.group_id])
            return not any(lag.values())

        await eventually(both_idle, what="both groups committed everything")
    assert other.applied == Counter({poison.order_id: 1}), "the other group saw nothing new"
    assert mine.applied == Counter({poison.order_id: 1})


async def test_a_dead_letter_by_reference_is_fetched_from_the_original_topic(
    config: ConsumerConfig, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    event = order_created()
    await produce(config.bootstrap_servers, config.topic, [event])
    [original] = await read_topic(config.bootstrap_servers, config.topic)
    # What DeadLetterPublisher writes when the copy is too large: coordinates, no value.
    producer = AIOKafkaProducer(bootstrap_servers=config.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(
            dead_letter_topic(config.topic, config.group_id),
            None,
            key=original.key,
            headers=reference_headers(
                original,
                error="handler failed: too big",
                consumer_group=config.group_id,
                reason="too-large",
            ),
        )
    finally:
        await producer.stop()
    handler = FailingUntilFixed()

    async with consuming(config, handler):
        await eventually(lambda: _holds(handler.applied[event.order_id] == 1), what="applied")
        assert await dlq(config, "replay", "--all") == 0
        await eventually(lambda: _holds(handler.applied[event.order_id] == 2), what="redriven")

    [copy] = await read_topic(
        config.bootstrap_servers, redrive_topic(config.topic, config.group_id)
    )
    assert copy.value == original.value
    headers = dict(copy.headers)
    assert headers["event-type"] == b"OrderCreated"
    assert "dlq-value-omitted" not in headers
    assert json.loads(headers["dlq-previous-errors"]) == ["handler failed: too big"]


async def test_a_redriven_event_that_fails_again_is_dead_lettered_with_its_history(
    config: ConsumerConfig, cli_env: None
) -> None:
    event = order_created()
    handler = FailingUntilFixed()
    handler.broken = {event.order_id}
    await produce(config.bootstrap_servers, config.topic, [event])
    async with consuming(config, handler):
        [first] = await dead_letters(config, 1)
        assert await dlq(config, "replay", "--all") == 0  # the fix did not work
        letters = await dead_letters(config, 2)

    [second] = [letter for letter in letters if letter.offset != first.offset]
    headers = dict(second.headers)
    assert headers["dlq-redrive-count"] == b"1"
    assert json.loads(headers["dlq-previous-errors"]) == [dict(first.headers)["dlq-error"].decode()]
    assert headers["dlq-error"].startswith(b"handler failed")
    assert headers["dlq-original-topic"] == config.topic.encode(), "the first original"
    assert headers["dlq-original-offset"] == dict(first.headers)["dlq-original-offset"]
    assert second.value == first.value
    assert second.key == first.key
    assert handler.applied[event.order_id] == 0, "never applied, and never looped"
    redrive_dlq = dead_letter_topic(redrive_topic(config.topic, config.group_id), config.group_id)
    assert await read_topic(config.bootstrap_servers, redrive_dlq) == []


def _holds(condition: bool) -> asyncio.Future[bool]:
    done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    done.set_result(condition)
    return done
