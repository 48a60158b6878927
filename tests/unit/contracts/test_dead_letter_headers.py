"""Dead-letter headers round trip: what the consumers' publisher writes, `dlq` reads, and what
`dlq replay` writes on a redriven message, the publisher carries into its next dead letter."""

from __future__ import annotations

from aiokafka import ConsumerRecord
from hypothesis import given
from hypothesis import strategies as st

from order_platform.building_blocks.kafka.dead_letters import dead_letter_headers, reference_headers
from order_platform.contracts import dead_letter_headers as dlq
from order_platform.contracts import event_headers, redrive_topic
from order_platform.operations.dead_letter_redrive import DeadLetter, redrive_headers

GROUP = "notification-service"


def record(
    topic: str, partition: int, offset: int, headers: list[tuple[str, bytes]]
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=1_000,
        timestamp_type=0,
        key=b"order-1",
        value=b"{}",
        checksum=None,
        serialized_key_size=7,
        serialized_value_size=2,
        headers=headers,
    )


def dead_letter(offset: int, headers: list[tuple[str, bytes]]) -> DeadLetter:
    return DeadLetter.of(record(f"order-created.{GROUP}.dlq", 0, offset, headers))


def test_a_dead_letter_says_where_it_came_from_and_why() -> None:
    poison = record("order-created", 2, 40, event_headers(correlation_id="c-1"))

    letter = dead_letter(0, dead_letter_headers(poison, error="bad", consumer_group=GROUP))

    assert letter.error == "bad"
    assert letter.original == ("order-created", 2, 40)
    assert letter.header(dlq.CONSUMER_GROUP) == GROUP
    assert letter.redrive_count == 0
    assert letter.previous_errors == []
    assert not letter.by_reference


def test_a_redriven_message_that_fails_again_keeps_its_history() -> None:
    poison = record("order-created", 2, 40, event_headers())
    first = dead_letter(7, dead_letter_headers(poison, error="first", consumer_group=GROUP))
    redriven = record(
        redrive_topic("order-created", GROUP), 0, 0, redrive_headers(first, first.headers)
    )

    second = dead_letter(8, dead_letter_headers(redriven, error="second", consumer_group=GROUP))

    assert second.error == "second"
    assert second.original == ("order-created", 2, 40)  # the first original, not the redrive
    assert second.redrive_count == 1
    assert second.previous_errors == ["first"]
    assert dlq.redriven_from_of(dlq.last_value(redriven.headers, dlq.REDRIVEN_FROM) or b"") == (
        0,
        7,
    )


def test_a_dead_letter_by_reference_is_read_as_one() -> None:
    poison = record("order-created", 1, 5, event_headers())

    letter = DeadLetter.of(
        record(
            f"order-created.{GROUP}.dlq",
            0,
            0,
            reference_headers(poison, error="too big", consumer_group=GROUP, reason="too-large"),
        )
    )

    assert letter.by_reference
    assert letter.header(dlq.VALUE_OMITTED) == "too-large"
    assert letter.original == ("order-created", 1, 5)
    assert letter.preview == "{}"


@given(st.lists(st.text(max_size=20), max_size=5), st.integers(0, 10**6))
def test_history_values_round_trip(errors: list[str], count: int) -> None:
    headers = [
        (dlq.PREVIOUS_ERRORS, dlq.previous_errors(errors)),
        (dlq.REDRIVE_COUNT, dlq.redrive_count(count)),
    ]

    assert dlq.previous_errors_of(headers) == errors
    assert dlq.redrive_count_of(headers) == count


def test_unreadable_values_count_as_absent() -> None:
    headers = [
        (dlq.PREVIOUS_ERRORS, b"not json"),
        (dlq.REDRIVE_COUNT, b"many"),
        *dlq.original_headers("t", 0, 0)[:2],
        (dlq.ORIGINAL_OFFSET, b"x"),
    ]

    assert dlq.previous_errors_of(headers) == []
    assert dlq.redrive_count_of(headers) == 0
    assert dlq.original_of(headers) is None
    assert dlq.redriven_from_of(b"1:x") is None
