"""What `dlq replay` chooses to send, and what a redriven message carries, without Kafka."""

from __future__ import annotations

import json

from order_platform.operations.dead_letter_redrive import (
    DeadLetter,
    Skip,
    new_marks,
    plan,
    printable,
    redrive_headers,
)


def letter(partition: int, offset: int, *, at: int = 0, **headers: str) -> DeadLetter:
    fields = {
        "dlq-error": "handler failed: boom",
        "dlq-original-topic": "orders",
        "dlq-original-partition": "2",
        "dlq-original-offset": "40",
    } | {name.replace("_", "-"): value for name, value in headers.items()}
    return DeadLetter(
        partition,
        offset,
        at or 1_000 + offset,
        b"key",
        b"{}",
        (("event-type", b"OrderCreated"), *((k, v.encode()) for k, v in fields.items())),
    )


LETTERS = [letter(0, 0), letter(0, 1), letter(1, 0), letter(1, 1)]


def places(letters: list[DeadLetter]) -> list[str]:
    return [each.coordinates for each in letters]


def test_all_sends_what_is_at_or_above_the_mark_oldest_first() -> None:
    chosen = plan(LETTERS, marks={0: 1}, redriven=set(), chosen=None, again=False)
    assert places(chosen.send) == ["1:0", "0:1", "1:1"]
    assert chosen.below_mark == 1
    assert chosen.skipped == []


def test_all_skips_one_redriven_by_offset_and_says_so() -> None:
    chosen = plan(LETTERS, marks={}, redriven={(1, 1)}, chosen=None, again=False)
    assert places(chosen.send) == ["0:0", "1:0", "0:1"]
    assert chosen.skipped == [("1:1", Skip.ALREADY_REDRIVEN)]


def test_offset_skips_below_the_mark_unless_again_and_reports_unknown_ones() -> None:
    chosen = plan(
        LETTERS, marks={0: 2}, redriven=set(), chosen=[(0, 1), (1, 0), (7, 3)], again=False
    )
    assert places(chosen.send) == ["1:0"]
    assert chosen.skipped == [("0:1", Skip.ALREADY_REDRIVEN), ("7:3", Skip.NOT_FOUND)]

    again = plan(LETTERS, marks={0: 2}, redriven={(1, 0)}, chosen=[(0, 1), (1, 0)], again=True)
    assert places(again.send) == ["0:1", "1:0"]


def test_the_mark_moves_past_the_last_letter_and_never_back() -> None:
    assert new_marks(LETTERS, {0: 5}) == {1: 2}
    assert new_marks([], {0: 5}) == {}


def test_a_redriven_message_carries_the_event_headers_and_one_more_redrive_of_history() -> None:
    before = letter(1, 3, dlq_redrive_count="1", dlq_previous_errors=json.dumps(["first"]))
    headers = redrive_headers(before, before.headers)
    names = [name for name, _ in headers]
    values = dict(headers)
    assert values["event-type"] == b"OrderCreated"
    assert "dlq-error" not in values
    assert names.count("dlq-redrive-count") == 1
    assert values["dlq-redrive-count"] == b"2"
    assert json.loads(values["dlq-previous-errors"]) == ["first", "handler failed: boom"]
    assert values["dlq-original-topic"] == b"orders"
    assert values["dlq-original-offset"] == b"40"
    assert values["dlq-redriven-from"] == b"1:3"


def test_history_stays_bounded() -> None:
    many = json.dumps([f"error {n} " + "x" * 1000 for n in range(50)])
    headers = dict(redrive_headers(letter(0, 0, dlq_previous_errors=many), ()))
    errors = json.loads(headers["dlq-previous-errors"])
    assert len(errors) == 10
    assert errors[-1] == "handler failed: boom"
    assert len(headers["dlq-previous-errors"]) < 4000


def test_nothing_printed_forges_a_line() -> None:
    assert printable("a\nb\r\u2028c") == "a\\nb\\r\\u2028c"
    assert printable("x" * 10, 4) == "xxxx…"


def test_a_lone_surrogate_is_printed_escaped() -> None:
    # An error in `dlq-previous-errors` is JSON, which may escape half a UTF-16 pair: written
    # as it is, it would stop the output (no UTF-8 encoder takes it).
    shown = printable(json.loads('"bad \\ud800 name"'))

    assert shown == "bad \\ud800 name"
    shown.encode()
