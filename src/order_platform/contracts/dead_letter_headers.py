"""The headers of a dead letter (docs/design.md, "Events": the error, the original topic, partition
and offset) and of a redriven message: written by the consumers' dead-letter publisher
(`building_blocks.kafka.dead_letters`) and by `dlq replay`, read by `dlq` and the console.

Every value is UTF-8 text; numbers are decimal, the previous errors a JSON list of strings.
A reader takes a header's last value and treats one it cannot read as absent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Final

type Headers = list[tuple[str, bytes]]

PREFIX: Final = "dlq-"  # every header below; a redriven message's own are replaced by fresh ones
ERROR: Final = "dlq-error"
ORIGINAL_TOPIC: Final = "dlq-original-topic"
ORIGINAL_PARTITION: Final = "dlq-original-partition"
ORIGINAL_OFFSET: Final = "dlq-original-offset"
ORIGINAL: Final = (ORIGINAL_TOPIC, ORIGINAL_PARTITION, ORIGINAL_OFFSET)
CONSUMER_GROUP: Final = "dlq-consumer-group"
# History: a redriven message carries it from its dead letter, and its next dead letter keeps it.
REDRIVE_COUNT: Final = "dlq-redrive-count"
PREVIOUS_ERRORS: Final = "dlq-previous-errors"  # JSON list, oldest first
HISTORY: Final = (REDRIVE_COUNT, PREVIOUS_ERRORS)
# On a redriven message: `PARTITION:OFFSET` of the dead letter it was sent back from.
REDRIVEN_FROM: Final = "dlq-redriven-from"
# A dead letter by reference (no value): why, the value's size and its first bytes.
VALUE_OMITTED: Final = "dlq-value-omitted"
VALUE_SIZE: Final = "dlq-value-size"
VALUE_PREVIEW: Final = "dlq-value-preview"


def last_value(headers: Iterable[tuple[str, bytes]], name: str) -> bytes | None:
    found = [value for key, value in headers if key == name]
    return found[-1] if found else None


def text(headers: Iterable[tuple[str, bytes]], name: str) -> str | None:
    value = last_value(headers, name)
    return None if value is None else value.decode(errors="replace")


def original_headers(topic: str, partition: int, offset: int) -> Headers:
    return [
        (ORIGINAL_TOPIC, topic.encode()),
        (ORIGINAL_PARTITION, str(partition).encode()),
        (ORIGINAL_OFFSET, str(offset).encode()),
    ]


def original_of(headers: Iterable[tuple[str, bytes]]) -> tuple[str, int, int] | None:
    """Topic, partition and offset of the message a dead letter stands for."""
    headers = list(headers)
    topic, partition, offset = (text(headers, name) for name in ORIGINAL)
    if topic is None or partition is None or offset is None:
        return None
    try:
        return topic, int(partition), int(offset)
    except ValueError:
        return None


def redrive_count(value: int) -> bytes:
    return str(value).encode()


def redrive_count_of(headers: Iterable[tuple[str, bytes]]) -> int:
    """The redrive count; 0 when absent or unreadable."""
    try:
        return int(text(headers, REDRIVE_COUNT) or 0)
    except ValueError:
        return 0


def previous_errors(values: Sequence[str]) -> bytes:
    return json.dumps(list(values)).encode()


def previous_errors_of(headers: Iterable[tuple[str, bytes]]) -> list[str]:
    """The previous errors, oldest first; none when absent or unreadable."""
    try:
        found = json.loads(text(headers, PREVIOUS_ERRORS) or "[]")
    except ValueError:
        return []
    return [str(error) for error in found] if isinstance(found, list) else []


def redriven_from(partition: int, offset: int) -> bytes:
    return f"{partition}:{offset}".encode()


def redriven_from_of(value: bytes) -> tuple[int, int] | None:
    """A `REDRIVEN_FROM` value as (partition, offset); None when it is not one."""
    partition, _, offset = value.decode(errors="replace").partition(":")
    return (int(partition), int(offset)) if partition.isdigit() and offset.isdigit() else None
