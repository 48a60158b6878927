"""One redrive of a consumer group at a time, whoever asks (the console, `dlq replay`, on any
host): a lease kept in Kafka next to the redrive mark, on partition 0 of the group's lease
topic `<topic>.<group>.redrive-lease`.

Kafka has no compare-and-set, but a partition is one order that every reader sees alike, and
that is enough for a lock: a redrive appends a claim and reads the partition up to it;
`holder` replays the claims and releases in offset order, and the claim wins if it holds the
lease right after it. A claim made while another's lease runs is void for good, so every
reader agrees on who holds the group, whatever it reads later.

A lease runs `ttl` after its holder's latest claim (`at_ms`, by the holder's own clock, in
the record), so a redrive that dies holding it blocks the group for at most `ttl`. The holder
claims again right before it sends, and each send is bounded by a step timeout well inside
`ttl`; clocks that disagree by more than `ttl` minus that timeout could let two holders
overlap.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from order_platform.contracts.errors import Conflict

LEASE_PARTITION = 0


def lease_topic(topic: str, group: str) -> str:
    return f"{topic}.{group}.redrive-lease"


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    holder: str  # one id per redrive
    who: str  # for the people told to wait: which program, on which host
    kind: Literal["claim", "release"]
    at_ms: int
    ttl_ms: int

    @property
    def until_ms(self) -> int:
        return self.at_ms + self.ttl_ms

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, value: bytes | None) -> LeaseRecord | None:
        """None for anything else on the topic: it claims nothing."""
        try:
            found = json.loads(value or b"")
            record = cls(
                str(found["holder"]),
                str(found["who"]),
                found["kind"],
                int(found["at_ms"]),
                int(found["ttl_ms"]),
            )
        except (ValueError, TypeError, KeyError):
            return None
        return record if record.kind in ("claim", "release") else None


def holder(records: Iterable[LeaseRecord]) -> LeaseRecord | None:
    """The claim holding the lease after these records, in offset order: a claim takes it when
    it is free, its own, or past its `ttl` at the claim's time; a release frees its own."""
    current: LeaseRecord | None = None
    for record in records:
        if record.kind == "claim":
            if (
                current is None
                or record.holder == current.holder
                or record.at_ms >= current.until_ms
            ):
                current = record
        elif current is not None and record.holder == current.holder:
            current = None
    return current


class RedriveHeld(Conflict):
    """Another redrive of the group holds the lease: the message says who, and until when."""

    def __init__(self, group: str, by: LeaseRecord) -> None:
        since = _clock_time(by.at_ms)
        super().__init__(
            f"another redrive of group {group} holds it ({by.who}, since {since}, until "
            f"{_clock_time(by.until_ms)} at the latest): nothing was sent; try again once it "
            "has finished"
        )
        self.holder = by


class RedriveLease:
    """This redrive's lease on `group`: `acquire`, `renew` right before sending, `release`.
    Each raises `RedriveHeld` when another holds the lease, and Kafka's own errors."""

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topic: str,
        group: str,
        who: str,
        ttl_seconds: float,
        request_timeout_ms: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._bootstrap = bootstrap_servers
        self._group = group
        self._tp = TopicPartition(lease_topic(topic, group), LEASE_PARTITION)
        self._id = uuid.uuid4().hex
        self._who = f"{who} on {socket.gethostname()} (pid {os.getpid()})"
        self._ttl_ms = int(ttl_seconds * 1000)
        self._timeout_ms = request_timeout_ms
        self._clock = clock
        self._producer: AIOKafkaProducer | None = None

    async def acquire(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            request_timeout_ms=self._timeout_ms,
            client_id="order-platform-dlq-lease",
        )
        try:
            await self._producer.start()
            await self._claim()
        except BaseException:
            await self._stop()
            raise

    async def renew(self) -> None:
        await self._claim()

    async def release(self) -> None:
        try:
            if self._producer is not None:
                await self._append("release")
        finally:
            await self._stop()

    async def _claim(self) -> None:
        offset = await self._append("claim")
        current = holder(await self._read_through(offset))
        if current is None or current.holder != self._id:
            if current is None:  # cannot happen: our own claim came last
                raise RuntimeError("the redrive lease topic lost a claim")
            raise RedriveHeld(self._group, current)

    async def _append(self, kind: Literal["claim", "release"]) -> int:
        assert self._producer is not None, "acquire first"
        record = LeaseRecord(self._id, self._who, kind, int(self._clock() * 1000), self._ttl_ms)
        sent = await self._producer.send_and_wait(
            self._tp.topic, record.to_json(), partition=LEASE_PARTITION
        )
        return int(sent.offset)

    async def _read_through(self, offset: int) -> list[LeaseRecord]:
        """The partition from its start through `offset` (ours, so it exists: no end offsets,
        which the embedded broker can answer short)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=self._timeout_ms,
            client_id="order-platform-dlq-lease",
        )
        records: list[LeaseRecord] = []
        try:
            await consumer.start()
            consumer.assign([self._tp])
            await consumer.seek_to_beginning(self._tp)
            while await consumer.position(self._tp) <= offset:
                batches = await consumer.getmany(self._tp, timeout_ms=500)
                for message in batches.get(self._tp, []):
                    if message.offset <= offset and (found := LeaseRecord.from_json(message.value)):
                        records.append(found)
            return records
        finally:
            await consumer.stop()

    async def _stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()


def _clock_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S UTC")
