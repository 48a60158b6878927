"""The broker's topic and consumer groups in the simulated world, for the real `ConsumerRunner`.

The topic has a few partitions; a record goes to the partition of its key's CRC32, so an
order's events stay in one. A group hands its partitions out round-robin to its members in the
order they joined, and deals again (a rebalance: a new generation) whenever one joins, leaves,
or is dropped because its session ran out (a member that crashed never says goodbye). A member
reads each partition it is dealt from the group's committed offset; a commit by a member
that no longer owns the partition fails, as Kafka's does (`CommitFailedError`), and one that is
applied may still lose its reply.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaConnectionError

from order_platform.building_blocks.kafka.consumer import Batches, ConsumerConfig, GroupMember

if TYPE_CHECKING:
    from tests.simulation.world import Process, World

TOPIC = "order-created"
PARTITIONS = 3
SESSION_TIMEOUT = 10.0  # KAFKA_SESSION_TIMEOUT_MS


def partition_of(key: bytes) -> int:
    return zlib.crc32(key) % PARTITIONS


@dataclass
class Group:
    name: str
    committed: dict[int, int] = field(default_factory=dict)
    members: list[SimGroupMember] = field(default_factory=list)
    generation: int = 0


class Topic:
    def __init__(self, world: World) -> None:
        self._world = world
        self.partitions: list[list[ConsumerRecord[bytes, bytes]]] = [[] for _ in range(PARTITIONS)]
        self.groups: dict[str, Group] = {}

    def append(self, key: bytes, value: bytes, headers: Sequence[tuple[str, bytes]]) -> None:
        partition = partition_of(key)
        log = self.partitions[partition]
        log.append(
            ConsumerRecord(
                topic=TOPIC,
                partition=partition,
                offset=len(log),
                timestamp=int(self._world.loop.time() * 1000),
                timestamp_type=0,
                key=key,
                value=value,
                checksum=None,
                serialized_key_size=len(key),
                serialized_value_size=len(value),
                headers=tuple(headers),
            )
        )

    def group(self, name: str) -> Group:
        return self.groups.setdefault(name, Group(name))

    def rebalance(self, group: Group, why: str) -> None:
        group.generation += 1
        for member in group.members:
            member.dealt = {}
        for partition in range(PARTITIONS):
            if group.members:
                member = group.members[partition % len(group.members)]
                member.dealt[partition] = group.committed.get(partition, 0)
        self._world.trace(
            group.name,
            f"rebalance ({why}): "
            + ", ".join(f"{m.process.name} {sorted(m.dealt)}" for m in group.members),
        )

    def drop_when_silent(self, member: SimGroupMember) -> None:
        """A crashed member stays in the group until its session runs out."""

        def expire() -> None:
            if member in member.group.members:
                member.group.members.remove(member)
                self.rebalance(member.group, f"{member.process.name}'s session ran out")

        self._world.loop.call_later(SESSION_TIMEOUT, expire)


class SimGroupMember(GroupMember):
    """`GroupMember` on the simulated topic, for one process's `ConsumerRunner`."""

    def __init__(self, world: World, process: Process, config: ConsumerConfig) -> None:
        self._world = world
        self.process = process
        self.group = world.topic.group(config.group_id)
        self.dealt: dict[int, int] = {}  # partition: position

    async def start(self) -> None:
        await self._call("join")
        self.group.members.append(self)
        self._world.topic.rebalance(self.group, f"{self.process.name} joins")

    async def stop(self) -> None:
        if self not in self.group.members:
            return
        if self.process.alive:
            self.group.members.remove(self)
            self._world.topic.rebalance(self.group, f"{self.process.name} leaves")
        else:  # its process crashed: nobody says goodbye
            self._world.topic.drop_when_silent(self)

    async def getmany(self, *, timeout_ms: int, max_records: int) -> Batches:
        await self._call("fetch")
        batches: Batches = {}
        for partition, position in sorted(self.dealt.items()):
            records = self._world.topic.partitions[partition][position : position + max_records]
            if records:
                max_records -= len(records)
                self.dealt[partition] = position + len(records)
                batches[TopicPartition(TOPIC, partition)] = list(records)
        if not batches and timeout_ms:
            await asyncio.sleep(timeout_ms / 1000)  # a long poll that found nothing
        return batches

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(TOPIC, partition) for partition in self.dealt}

    def highwater(self, partition: TopicPartition) -> int | None:
        return len(self._world.topic.partitions[partition.partition])

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        generation = self.group.generation
        await self._call("commit")
        if generation != self.group.generation or any(
            tp.partition not in self.dealt for tp in offsets
        ):
            raise CommitFailedError("simulated: the group rebalanced since this batch")
        lose_reply = self._world.chance("commit_lost_reply", self._world.rates.lost_reply)
        for tp, offset in offsets.items():
            self.group.committed[tp.partition] = offset
        if lose_reply:
            raise KafkaConnectionError("simulated: commit applied, reply lost")

    async def _call(self, what: str) -> None:
        await self._world.enter(self.process)
        await asyncio.sleep(self._world.rng.uniform(0.0005, 0.005))
        if not self.process.alive:
            raise asyncio.CancelledError(f"{self.process.name} has crashed")
        if self._world.loop.time() < self._world.broker_down_until:
            self._world.faults[f"broker_outage_{what}"] += 1
            raise KafkaConnectionError(f"simulated: broker unreachable ({what})")
