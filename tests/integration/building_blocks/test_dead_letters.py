"""Guarantee 3 when the poison cannot be copied to the dead-letter topic: it never blocks."""

from __future__ import annotations

import time

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from order_platform.building_blocks.kafka.consumer import ConsumerConfig
from order_platform.building_blocks.kafka.dead_letters import DeadLetterPublisher
from order_platform.contracts import dead_letter_topic, event_headers
from tests.support.consumers import Recorder, consuming, fast_config
from tests.support.events import order_created, produce
from tests.support.fault_proxy import FaultProxy
from tests.support.kafka_topic import read_topic
from tests.support.waiting import eventually

# aiokafka's producer refuses a record larger than this (`max_request_size`, its default).
PRODUCER_LIMIT = 1_048_576
PREVIEW_BYTES = 1024


@pytest.fixture
def config(kafka_bootstrap: str, unique_name: str) -> ConsumerConfig:
    return fast_config(kafka_bootstrap, unique_name)


def counted(metric: str, group: str, reason: str) -> float:
    return REGISTRY.get_sample_value(metric, {"group": group, "reason": reason}) or 0.0


async def test_guarantee_3_poison_too_large_to_copy_is_dead_lettered_by_reference(
    config: ConsumerConfig,
) -> None:
    after = order_created()
    key = str(after.order_id).encode()  # one partition: `after` has to get past the poison
    # Not JSON, and just under the producer's limit: its dead-letter headers push it over.
    room = PRODUCER_LIMIT - DefaultRecordBatchBuilder.estimate_size_in_bytes(
        key, b"", event_headers()
    )
    poison = b"<" + b"x" * (room - 64)
    await produce(config.bootstrap_servers, config.topic, [poison], key=key)
    await produce(config.bootstrap_servers, config.topic, [after])
    before = counted("dead_letters_by_reference_total", config.group_id, "too-large")
    handler = Recorder()
    publisher = DeadLetterPublisher(
        config.bootstrap_servers, config.group_id, enable_idempotence=False
    )

    async with consuming(config, handler, publisher):
        await eventually(
            lambda: _holds(after.order_id in handler.applied),
            timeout=30,
            what="the event after the oversized poison applied",
        )

    [letter] = await read_topic(
        config.bootstrap_servers, dead_letter_topic(config.topic, config.group_id)
    )
    headers = dict(letter.headers)
    assert letter.value is None  # a reference, not a copy
    assert headers["dlq-value-omitted"] == b"too-large"
    assert headers["dlq-original-topic"] == config.topic.encode()
    originals = await read_topic(config.bootstrap_servers, config.topic)
    [original] = [r for r in originals if r.value == poison]
    assert int(headers["dlq-original-partition"]) == original.partition
    assert int(headers["dlq-original-offset"]) == original.offset
    assert headers["dlq-error"].startswith(b"invalid event")
    assert headers["dlq-value-preview"] == poison[:PREVIEW_BYTES]
    assert int(headers["dlq-value-size"]) == len(poison)
    assert counted("dead_letters_by_reference_total", config.group_id, "too-large") == before + 1


async def test_guarantee_3_poison_moves_on_when_the_dead_letter_topic_stays_unavailable(
    config: ConsumerConfig,
) -> None:
    after = order_created()
    key = str(after.order_id).encode()
    await produce(config.bootstrap_servers, config.topic, [b"not json"], key=key)
    await produce(config.bootstrap_servers, config.topic, [after])
    before = counted("dead_letters_unpublished_total", config.group_id, "unavailable")
    handler = Recorder()
    host, port = config.bootstrap_servers.rsplit(":", 1)

    with FaultProxy(host, int(port)) as proxy, capture_logs() as logs:
        proxy.blackhole()  # the dead-letter producer connects, and never hears back
        publisher = DeadLetterPublisher(
            proxy.address,
            config.group_id,
            enable_idempotence=False,
            timeout_seconds=0.5,
            attempts=2,
            backoff_seconds=0.05,
        )
        started = time.monotonic()
        async with consuming(config, handler, publisher):
            await eventually(
                lambda: _holds(after.order_id in handler.applied),
                timeout=30,
                what="the event after the poison applied",
            )
        elapsed = time.monotonic() - started

    assert counted("dead_letters_unpublished_total", config.group_id, "unavailable") == before + 1
    [line] = [entry for entry in logs if entry["event"] == "dead_letter_unpublished"]
    assert line["topic"] == config.topic
    assert line["offset"] >= 0
    assert line["partition"] >= 0
    assert line["error"].startswith("invalid event")
    assert line["log_level"] == "error"
    # Bounded: two copies and one reference of 0.5 s each, one pause, plus joining the group.
    assert elapsed < publisher.bound_seconds + 10, elapsed
    assert (
        await read_topic(config.bootstrap_servers, dead_letter_topic(config.topic, config.group_id))
        == []
    )


async def _holds(value: bool) -> bool:
    return value
