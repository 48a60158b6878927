"""Look at a consumer group's dead letters, and send chosen ones back to that group only.

Where they go back: to the group's redrive topic, `<topic>.<group>.redrive`, which that
group's consumer reads besides the topic (`ConsumerRunner` subscribes to both). Publishing to
the topic itself would make every other group process the event a second time; the redrive
topic is seen by nobody else, and the consumer decodes, handles and dead-letters its messages
exactly as it does the topic's. A redriven message keeps its key (same order, same partition
of the redrive topic) and the original event headers (`traceparent`, `correlation-id`), and
carries its history: `dlq-original-*` (where it first came from), `dlq-redrive-count` and
`dlq-previous-errors`. If it fails again, its new dead letter keeps that history (see
`building_blocks.kafka.dead_letters`); nothing sends it back but another operator's replay.

At most once per dead letter, tracked in Kafka, no other store:
- the *redrive mark*: the committed offset of the group `<group>.redrive` on each partition
  of the DLQ topic. Everything below it is done with. `--all` redrives from the mark to the
  end and then commits the mark past the last dead letter it went through (sent, redriven
  before, or unsendable because its original is gone: reported, and exit status 1);
- a dead letter redriven by `--offset` above the mark is recognised by the copy on the redrive
  topic (its `dlq-redriven-from: PARTITION:OFFSET` header), so `--all` and `--offset` skip it.
`--again` redrives the chosen dead letters even so. Sends are acknowledged (`acks=all`) before
the mark is committed: a replay that dies between the two may send those again next time,
which the consumers' idempotence on `eventId` absorbs (docs/design.md, guarantee 2).

One replay of a group at a time, whoever runs it (`dlq replay`, the console, on any host): a
replay that sends holds the group's lease (`redrive_lease`, also in Kafka) from before it
reads the mark until after it commits it, renewed right before it sends; another replay of
the group meanwhile sends nothing and raises `RedriveHeld`. A dry run takes no lease.

Reading is read-only: the DLQ, the redrive topic and the original topic are read by a
consumer without a group (assigned partitions, from the beginning to the end offsets); the
mark is only read, except by `replay --all` without `--dry-run` (`--offset` never moves it).
Every step against Kafka is bounded by `timeout_seconds`; past it, or when Kafka cannot be
reached or refuses, `KafkaUnavailable` says so in one sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaError

from order_platform.building_blocks.kafka.partitions import partitions_of
from order_platform.contracts import dead_letter_headers as dlq
from order_platform.contracts import dead_letter_topic, redrive_topic, rfc3339
from order_platform.contracts.errors import Unavailable
from order_platform.contracts.user_text import CONTROL_CHARACTERS
from order_platform.operations.redrive_lease import RedriveLease

# `dlq-previous-errors` keeps the latest errors, each cut short, within a header of this size.
MAX_PREVIOUS_ERRORS = 10
MAX_PREVIOUS_ERROR_CHARS = 300
PREVIEW_CHARS = 300
ORIGINAL_FETCHES = 4  # of 0.5 s: an original that does not come is past the end


def printable(text: str, limit: int | None = None) -> str:
    """On one line whatever it holds: control characters escaped, so that no dead letter
    forges a line of output; cut at `limit` characters (marked with `…`)."""
    shown = text if limit is None else text[:limit]
    escaped = CONTROL_CHARACTERS.sub(lambda found: json.dumps(found[0])[1:-1], shown)
    return escaped + ("…" if limit is not None and len(text) > limit else "")


class KafkaUnavailable(Unavailable):
    """Kafka did not answer in time, or refused: the message is the one sentence to print."""


def redrive_group(group: str) -> str:
    """The consumer group whose committed offsets on the DLQ are the redrive mark."""
    return f"{group}.redrive"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message of a DLQ topic, with what its headers say about it."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @classmethod
    def of(cls, record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
        return cls(
            record.partition,
            record.offset,
            record.timestamp,
            record.key,
            record.value,
            tuple(record.headers),
        )

    def header(self, name: str) -> str | None:
        return dlq.text(self.headers, name)

    @property
    def coordinates(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def when(self) -> str:
        return rfc3339(datetime.fromtimestamp(self.timestamp_ms / 1000, UTC))

    @property
    def error(self) -> str:
        return self.header(dlq.ERROR) or ""

    @property
    def original(self) -> tuple[str, int, int] | None:
        """Topic, partition and offset of the message this dead letter stands for."""
        return dlq.original_of(self.headers)

    @property
    def by_reference(self) -> bool:
        """No copy of the value: the original has to be fetched from its topic."""
        return self.header(dlq.VALUE_OMITTED) is not None

    @property
    def redrive_count(self) -> int:
        return dlq.redrive_count_of(self.headers)

    @property
    def previous_errors(self) -> list[str]:
        return dlq.previous_errors_of(self.headers)

    @property
    def preview(self) -> str:
        """The start of the value (or of its preview, by reference), printable on one line."""
        if self.value is not None:
            raw = self.value
        else:
            raw = dlq.last_value(self.headers, dlq.VALUE_PREVIEW) or b""
        return printable(raw.decode(errors="replace"), PREVIEW_CHARS)

    def as_json(self) -> dict[str, object]:
        original = self.original
        return {
            "partition": self.partition,
            "offset": self.offset,
            "timestamp": self.when,
            "error": self.error,
            "originalTopic": original[0] if original else None,
            "originalPartition": original[1] if original else None,
            "originalOffset": original[2] if original else None,
            "key": self.key.decode(errors="replace") if self.key is not None else None,
            "byReference": self.header(dlq.VALUE_OMITTED),
            "redriveCount": self.redrive_count,
            "previousErrors": self.previous_errors,
            "valuePreview": self.preview,
        }


def oldest_first(letters: Iterable[DeadLetter]) -> list[DeadLetter]:
    return sorted(
        letters, key=lambda letter: (letter.timestamp_ms, letter.partition, letter.offset)
    )


def redrive_headers(
    letter: DeadLetter, event_headers: Sequence[tuple[str, bytes]]
) -> list[tuple[str, bytes]]:
    """The event's own headers, where it first came from and its history (one more redrive,
    this dead letter's error added to the previous ones)."""
    errors = [*letter.previous_errors, letter.error][-MAX_PREVIOUS_ERRORS:]
    errors = [error[:MAX_PREVIOUS_ERROR_CHARS] for error in errors]
    original = letter.original
    return [
        *((name, value) for name, value in event_headers if not name.startswith(dlq.PREFIX)),
        *(dlq.original_headers(*original) if original else []),
        (dlq.REDRIVE_COUNT, dlq.redrive_count(letter.redrive_count + 1)),
        (dlq.PREVIOUS_ERRORS, dlq.previous_errors(errors)),
        (dlq.REDRIVEN_FROM, dlq.redriven_from(letter.partition, letter.offset)),
    ]


class Skip(StrEnum):
    ALREADY_REDRIVEN = "already redriven (use --again to send it once more)"
    NOT_FOUND = "no such dead letter in the DLQ topic"
    ORIGINAL_GONE = "its original is no longer on the original topic (retention?)"
    NO_ORIGIN = "a dead letter by reference without its original's coordinates"


@dataclass(frozen=True, slots=True)
class Plan:
    send: list[DeadLetter]
    skipped: list[tuple[str, Skip]]  # coordinates, why
    below_mark: int = 0  # `--all`: dead letters redriven by an earlier `--all`, not listed


def plan(
    letters: Sequence[DeadLetter],
    *,
    marks: dict[int, int],
    redriven: set[tuple[int, int]],
    chosen: Sequence[tuple[int, int]] | None,
    again: bool,
) -> Plan:
    """Which dead letters to send: all (`chosen` None) or the chosen ones, minus those redriven
    already (below the partition's mark, or found on the redrive topic) unless `again`."""
    by_place = {(letter.partition, letter.offset): letter for letter in letters}
    if chosen is None:
        places = [(letter.partition, letter.offset) for letter in oldest_first(letters)]
    else:
        places = list(dict.fromkeys(chosen))
    send: list[DeadLetter] = []
    skipped: list[tuple[str, Skip]] = []
    below_mark = 0
    for place in places:
        letter = by_place.get(place)
        if letter is None:
            skipped.append((f"{place[0]}:{place[1]}", Skip.NOT_FOUND))
        elif again or not (place[1] < marks.get(place[0], 0) or place in redriven):
            send.append(letter)
        elif chosen is None and place[1] < marks.get(place[0], 0):
            below_mark += 1
        else:
            skipped.append((letter.coordinates, Skip.ALREADY_REDRIVEN))
    return Plan(send, skipped, below_mark)


def new_marks(letters: Iterable[DeadLetter], marks: dict[int, int]) -> dict[int, int]:
    """`--all`: past the last dead letter it went through on each partition, never backwards.
    Each was sent, redriven before, or cannot be sent (its original is gone): done with."""
    moved: dict[int, int] = {}
    for letter in letters:
        if letter.offset + 1 > max(marks.get(letter.partition, 0), moved.get(letter.partition, 0)):
            moved[letter.partition] = letter.offset + 1
    return moved


@dataclass
class Report:
    sent: list[tuple[DeadLetter, str]] = field(default_factory=list)  # letter, redrive place
    skipped: list[tuple[str, Skip]] = field(default_factory=list)
    below_mark: int = 0
    committed: dict[int, int] = field(default_factory=dict)


class DeadLetterRedrive:
    """The dead letters of one consumer group on one topic, and their redrive."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topic: str,
        group: str,
        enable_idempotence: bool,
        timeout_seconds: float = 10.0,
        who: str = "order-platform dlq replay",
        lease_seconds: float = 60.0,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._idempotence = enable_idempotence
        self._timeout = timeout_seconds
        self._topic = topic
        self._who = who
        # Renewed right before a send bounded by the timeout: the send ends inside the lease.
        self._lease_seconds = max(lease_seconds, 2 * timeout_seconds)
        self.group = group
        self.dlq_topic = dead_letter_topic(topic, group)
        self.redrive_topic = redrive_topic(topic, group)

    async def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        """The whole DLQ topic, oldest first (the first `limit`)."""
        records = await self._bounded(self._read_topic(self.dlq_topic), f"read {self.dlq_topic}")
        letters = oldest_first(DeadLetter.of(record) for record in records)
        return letters if limit is None else letters[:limit]

    async def replay(
        self, chosen: Sequence[tuple[int, int]] | None, *, again: bool, dry_run: bool
    ) -> Report:
        """Raises `RedriveHeld` (before sending anything) while another replay of the group
        holds its lease."""
        if dry_run:
            return await self._replay(chosen, again=again, lease=None)
        lease = RedriveLease(
            self._bootstrap,
            topic=self._topic,
            group=self.group,
            who=self._who,
            ttl_seconds=self._lease_seconds,
            request_timeout_ms=int(self._timeout * 1000),
        )
        await self._bounded(lease.acquire(), f"take the redrive lease of {self.group}")
        try:
            return await self._replay(chosen, again=again, lease=lease)
        finally:
            # Unreleased (Kafka gone), the lease runs out by itself.
            with contextlib.suppress(KafkaUnavailable):
                await self._bounded(lease.release(), f"release the redrive lease of {self.group}")

    async def _replay(
        self, chosen: Sequence[tuple[int, int]] | None, *, again: bool, lease: RedriveLease | None
    ) -> Report:
        letters = await self.dead_letters()
        partitions = sorted({letter.partition for letter in letters} | {p for p, _ in chosen or ()})
        marks = await self._bounded(self._marks(partitions), "read the redrive mark")
        redriven = await self._redriven()
        chosen_plan = plan(letters, marks=marks, redriven=redriven, chosen=chosen, again=again)
        report = Report(skipped=list(chosen_plan.skipped), below_mark=chosen_plan.below_mark)
        outgoing: list[tuple[DeadLetter, bytes | None, list[tuple[str, bytes]]]] = []
        for letter in chosen_plan.send:
            message = await self._message_of(letter)
            if isinstance(message, Skip):
                report.skipped.append((letter.coordinates, message))
            else:
                outgoing.append((letter, *message))
        if lease is None:
            report.sent = [(letter, "(dry run)") for letter, _, _ in outgoing]
            return report
        if outgoing:
            await self._bounded(lease.renew(), f"renew the redrive lease of {self.group}")
            report.sent = await self._bounded(self._send(outgoing), f"send to {self.redrive_topic}")
        if chosen is None:
            report.committed = new_marks(letters, marks)
            if report.committed:
                await self._bounded(self._commit(report.committed), "commit the redrive mark")
        return report

    async def _message_of(
        self, letter: DeadLetter
    ) -> tuple[bytes | None, list[tuple[str, bytes]]] | Skip:
        """Value and headers to redrive: the dead letter's copy, or the original it refers to."""
        if not letter.by_reference:
            return letter.value, redrive_headers(letter, letter.headers)
        original = letter.original
        if original is None:
            return Skip.NO_ORIGIN
        record = await self._bounded(self._fetch(*original), f"read {original[0]}")
        if record is None:
            return Skip.ORIGINAL_GONE
        return record.value, redrive_headers(letter, record.headers)

    async def _redriven(self) -> set[tuple[int, int]]:
        """Dead letters whose copy is on the redrive topic (`dlq-redriven-from`)."""
        records = await self._bounded(
            self._read_topic(self.redrive_topic), f"read {self.redrive_topic}"
        )
        places: set[tuple[int, int]] = set()
        for record in records:
            for name, value in record.headers:
                if name == dlq.REDRIVEN_FROM and (place := dlq.redriven_from_of(value)):
                    places.add(place)
        return places

    async def _bounded[T](self, work: Awaitable[T], what: str) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await work
        except TimeoutError:
            raise KafkaUnavailable(
                f"Kafka at {self._bootstrap} did not answer within {self._timeout:g} s "
                f"(trying to {what})"
            ) from None
        except (KafkaConnectionError, OSError):
            raise KafkaUnavailable(
                f"cannot reach Kafka at {self._bootstrap} (trying to {what})"
            ) from None
        except KafkaError as error:
            raise KafkaUnavailable(
                f"Kafka at {self._bootstrap} refused to {what}: {error!r}"
            ) from error

    def _consumer(self, group_id: str | None = None) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=int(self._timeout * 1000),
            client_id="order-platform-dlq",
        )

    async def _read_topic(self, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
        """Every message now in `topic`, in no group; nothing if the topic does not exist."""
        consumer = self._consumer()
        try:
            await consumer.start()
            partitions = await partitions_of(consumer, topic)
            if not partitions:
                return []
            tps = [TopicPartition(topic, partition) for partition in partitions]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            records: list[ConsumerRecord[bytes, bytes]] = []
            remaining = {tp for tp in tps if ends[tp] > await consumer.position(tp)}
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=500)
                for batch in batches.values():
                    records.extend(batch)
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
            # The embedded broker's end offsets can stop inside the last batch: one more fetch.
            for batch in (await consumer.getmany(*tps, timeout_ms=200)).values():
                records.extend(batch)
            return records
        finally:
            await consumer.stop()

    async def _fetch(
        self, topic: str, partition: int, offset: int
    ) -> ConsumerRecord[bytes, bytes] | None:
        consumer = self._consumer()
        try:
            await consumer.start()
            tp = TopicPartition(topic, partition)
            if partition not in await partitions_of(consumer, topic):
                return None
            consumer.assign([tp])
            start = (await consumer.beginning_offsets([tp]))[tp]
            if offset < start:
                return None  # removed by retention
            consumer.seek(tp, offset)
            # Not checked against ListOffsets: the embedded broker answers it short of the end.
            for _ in range(ORIGINAL_FETCHES):
                batches = await consumer.getmany(tp, timeout_ms=500, max_records=1)
                for record in batches.get(tp, []):
                    return record if record.offset == offset else None
            return None  # beyond the end
        finally:
            await consumer.stop()

    async def _marks(self, partitions: Sequence[int]) -> dict[int, int]:
        if not partitions:
            return {}
        consumer = self._consumer(redrive_group(self.group))
        try:
            await consumer.start()
            marks = {}
            for partition in partitions:
                committed = await consumer.committed(TopicPartition(self.dlq_topic, partition))
                marks[partition] = committed or 0
            return marks
        finally:
            await consumer.stop()

    async def _commit(self, marks: dict[int, int]) -> None:
        consumer = self._consumer(redrive_group(self.group))
        try:
            await consumer.start()
            tps = {TopicPartition(self.dlq_topic, p): offset for p, offset in marks.items()}
            consumer.assign(list(tps))
            await consumer.commit(tps)
        finally:
            await consumer.stop()

    async def _send(
        self, outgoing: Sequence[tuple[DeadLetter, bytes | None, list[tuple[str, bytes]]]]
    ) -> list[tuple[DeadLetter, str]]:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=self._idempotence,
            request_timeout_ms=int(self._timeout * 1000),
            linger_ms=5,
            client_id="order-platform-dlq",
        )
        try:
            await producer.start()
            deliveries = [
                await producer.send(self.redrive_topic, value, key=letter.key, headers=headers)
                for letter, value, headers in outgoing
            ]
            metadata = await asyncio.gather(*deliveries)
        finally:
            await producer.stop()
        return [
            (letter, f"{self.redrive_topic}:{placed.partition}:{placed.offset}")
            for (letter, _, _), placed in zip(outgoing, metadata, strict=True)
        ]
