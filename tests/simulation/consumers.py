"""The consuming side in the simulated world: members of the read service's and the notifier's
consumer groups, each the real `ConsumerRunner` with its service's real batch handler.

The read model, the cache, the ledger and the orders' progress are the unit tests' fakes (each
has a contract suite shared with its MongoDB or Redis adapter), behind the world's faults: an outage of the read
model's MongoDB or of Redis, a reply lost after the write was applied, a pause. The ledger's
claims expire on the simulated clock, as Redis keys with a TTL do.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from uuid import UUID

from aiokafka import ConsumerRecord

from order_platform.building_blocks.kafka.consumer import ConsumerConfig, ConsumerRunner
from order_platform.building_blocks.runtime.task_supervisor import TaskSupervisor
from order_platform.contracts import InvalidEvent
from order_platform.contracts.order_events import read_order_event
from order_platform.notification_service.application.ports import (
    Claim,
    ClaimState,
    LedgerUnavailable,
    Recorded,
)
from order_platform.notification_service.bootstrap import wire as wire_notifications
from order_platform.notification_service.domain import Notification, OrderProgress
from order_platform.read_service.application.ports import (
    Generations,
    ReadModelUnavailable,
    Staged,
)
from order_platform.read_service.application.projection import ProjectOrders
from order_platform.read_service.domain import OrderView
from order_platform.read_service.infrastructure.generations import POINTER_TTL_SECONDS
from order_platform.read_service.infrastructure.pointer_cache import PointerCache
from order_platform.read_service.infrastructure.projection_consumer import ProjectionHandler
from tests.simulation.consumer_groups import TOPIC, SimGroupMember
from tests.simulation.world import Process, World
from tests.unit.notification_service.fakes import FakeLedger, FakeOrderProgress
from tests.unit.read_service.fakes import FakeReadModel, FakeReadModelGenerations, FakeViewCache

READ_GROUP = "order-read-service"
NOTIFY_GROUP = "notification-service"
CLAIM_FOR = timedelta(seconds=30)  # NOTIFICATION_CLAIM_SECONDS


async def _faulty[T](
    world: World,
    process: Process,
    what: str,
    down_until: Callable[[], float],
    unavailable: Callable[[str], Exception],
    apply: Callable[[], Awaitable[T]],
) -> T:
    """A call to a dependency of the consuming side, at an await point the seed may spoil."""
    await world.enter(process)
    await asyncio.sleep(world.latency(world.read_side_slow))
    if world.loop.time() < down_until():
        world.faults[f"{what}_outage"] += 1
        raise unavailable(f"simulated: {what} unreachable")
    if world.chance(f"{what}_not_sent", world.rates.not_sent):
        raise unavailable(f"simulated: {what} call not sent")
    result = await apply()
    if world.chance(f"{what}_lost_reply", world.rates.lost_reply):
        raise unavailable(f"simulated: {what} applied, reply lost")
    if not process.alive:
        raise asyncio.CancelledError(f"{process.name} has crashed")
    return result


def read_model_call[T](
    world: World, process: Process, apply: Callable[[], Awaitable[T]]
) -> Awaitable[T]:
    """A call to the read model's MongoDB, which has faults of its own."""
    return _faulty(
        world,
        process,
        "read_model",
        lambda: world.read_model_down_until,
        ReadModelUnavailable,
        apply,
    )


class SimReadModel:
    """The shared read model as one member's process reaches it."""

    def __init__(self, world: World, process: Process, model: FakeReadModel) -> None:
        self._world, self._process, self._model = world, process, model

    def _call[T](self, apply: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        return read_model_call(self._world, self._process, apply)

    async def stage(self, views: list[OrderView]) -> Staged:
        return await self._call(lambda: self._model.stage(views))

    async def reveal(self, staged: Staged) -> None:
        await self._call(lambda: self._model.reveal(staged))

    def __getattr__(self, name: str) -> Any:  # reads: not on the consuming path
        return getattr(self._model, name)


class SimGenerations:
    """The shared generations as one member's process reaches them: the pointer read through
    the read model's faults and cached for its TTL, as `MongoReadModelGenerations` does."""

    def __init__(self, world: World, process: Process, shared: FakeReadModelGenerations) -> None:
        self._world, self._process, self._shared = world, process, shared
        self._pointer = PointerCache(
            lambda: read_model_call(world, process, shared.read),
            shared.pointer_ttl_seconds,
            monotonic=world.loop.time,
        )

    async def current(self) -> Generations:
        return await self._pointer.current()

    def model(self, generation: str) -> SimReadModel:
        model = self._shared.model(generation)
        assert isinstance(model, FakeReadModel)
        return SimReadModel(self._world, self._process, model)


class ExpiringLedger(FakeLedger):
    """`FakeLedger` whose claims run out on the simulated clock, as Redis keys do."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self._world = world
        self._claimed_at: dict[UUID, float] = {}

    def _expire(self) -> None:
        now = self._world.loop.time()
        for event_id, at in list(self._claimed_at.items()):
            if now - at >= CLAIM_FOR.total_seconds():
                del self._claimed_at[event_id]
                if self.entries.get(event_id, "").startswith("pending:"):
                    del self.entries[event_id]

    async def claim(self, event_id: UUID, token: str | None = None) -> Claim:
        self._expire()
        claim = await super().claim(event_id, token)
        if claim.state is ClaimState.CLAIMED:
            # Made again with its token, a claim keeps its expiry (`SET NX` leaves the TTL).
            self._claimed_at.setdefault(event_id, self._world.loop.time())
        return claim

    async def mark_sent(self, claim: Claim) -> Recorded:
        self._expire()
        self._claimed_at.pop(claim.event_id, None)
        return await super().mark_sent(claim)

    async def release(self, claim: Claim) -> None:
        self._expire()
        await super().release(claim)


class SimLedger:
    def __init__(self, world: World, process: Process, ledger: ExpiringLedger) -> None:
        self._world, self._process, self._ledger = world, process, ledger

    def _call[T](self, apply: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        return _faulty(
            self._world,
            self._process,
            "redis",
            lambda: self._world.redis_down_until,
            LedgerUnavailable,
            apply,
        )

    async def claim(self, event_id: UUID, token: str | None = None) -> Claim:
        return await self._call(lambda: self._ledger.claim(event_id, token))

    async def mark_sent(self, claim: Claim) -> Recorded:
        return await self._call(lambda: self._ledger.mark_sent(claim))

    async def release(self, claim: Claim) -> None:
        await self._call(lambda: self._ledger.release(claim))


class SimOrderProgress:
    """The orders' progress (in the ledger's Redis) as one member's process reaches it: a
    crashed process makes no call, but no other fault is drawn here. Every draw from the
    world's one random stream moves every later choice of the run, and the shrink test
    (`test_a_failing_run_shrinks_to_a_short_scenario_that_replays`) loses its shrink within
    its budget when this path draws too; a Redis outage still strikes the notifier through
    its ledger, the call before and after each of these, and the crash-like interleavings
    of these steps are the unit tests' (`test_notify_in_order.py`)."""

    def __init__(self, process: Process, orders: FakeOrderProgress) -> None:
        self._process, self._orders = process, orders

    def _call(self) -> FakeOrderProgress:
        if not self._process.alive:
            raise asyncio.CancelledError(f"{self._process.name} has crashed")
        return self._orders

    async def progress(self, order_id: UUID) -> OrderProgress:
        return await self._call().progress(order_id)

    async def remember_customer(self, order_id: UUID, customer_name: str) -> OrderProgress:
        return await self._call().remember_customer(order_id, customer_name)

    async def park(self, notification: Notification) -> OrderProgress:
        return await self._call().park(notification)

    async def advance(self, order_id: UUID, version: int) -> OrderProgress:
        return await self._call().advance(order_id, version)


class Customers:
    """Where notifications arrive (the log line or webhook): every one, duplicates included."""

    def __init__(self, world: World) -> None:
        self._world = world
        self.received: Counter[UUID] = Counter()

    async def send(self, notification: Notification) -> None:
        await asyncio.sleep(self._world.rng.uniform(0.001, 0.01))
        self.received[notification.event_id] += 1


class NoDeadLetters:
    """Every event in the simulation is valid: a dead letter is itself a finding."""

    def __init__(self, world: World) -> None:
        self._world = world

    async def publish(self, record: ConsumerRecord[bytes, bytes], error: str) -> object:
        self._world.dead_letters.append(f"{record.partition}:{record.offset} {error}")
        return "dead-lettered"


class ConsumingSide:
    """Both groups' shared state (the read model, the cache, the ledger, the customers)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.generations = FakeReadModelGenerations(
            pointer_ttl_seconds=POINTER_TTL_SECONDS, now=world.now
        )
        self.cache = FakeViewCache()
        self.ledger = ExpiringLedger(world)
        self.order_progress = FakeOrderProgress()
        self.customers = Customers(world)

    def read_model(self) -> FakeReadModel:
        """The live generation."""
        model = self.generations.model(self.generations.pointer.active)
        assert isinstance(model, FakeReadModel)
        return model


class Member:
    """One process of the read service or the notifier: its consumer loop (and the notifier's
    background records), under a `TaskSupervisor`, as the services' bootstraps start them."""

    def __init__(self, side: ConsumingSide, group: str, name: str, *, max_batch: int) -> None:
        world = side.world
        self.world = world
        self.process = Process(name)
        self.group = group
        process = self.process
        config = ConsumerConfig(
            bootstrap_servers="simulated", topic=TOPIC, group_id=group, max_batch=max_batch
        )
        self.records_task: Callable[[], Awaitable[object]] | None = None
        if group == READ_GROUP:
            handle: Any = ProjectionHandler(
                ProjectOrders(SimGenerations(world, process, side.generations), side.cache)
            )
        else:
            handle = wire_notifications(
                side.customers,
                SimLedger(world, process, side.ledger),
                SimOrderProgress(process, side.order_progress),
            )
            self.records_task = handle.notify.retry_unrecorded_forever
        self.runner = ConsumerRunner(
            config,
            decode=read_order_event,  # both services read every order event
            handle=handle,
            dead_letters=NoDeadLetters(world),  # type: ignore[arg-type]
            invalid=InvalidEvent,
            new_member=lambda config: SimGroupMember(world, process, config),
        )
        self.supervisor = TaskSupervisor(
            give_up_after_seconds=60.0, clock=world.loop.time, on_give_up=self._gave_up
        )

    def start(self) -> None:
        self.world.trace(self.process.name, "starts")
        self.supervisor.start("consumer", self.runner.run, request_stop=self.runner.request_stop)
        if self.records_task is not None:
            self.supervisor.start("notification-records", self.records_task)

    def crash(self) -> None:
        self.world.trace(self.process.name, "crashes")
        self.process.crash(self.supervisor)

    async def stop(self) -> None:
        """SIGTERM: the batch in flight is finished and committed, the group left."""
        self.world.trace(self.process.name, "stops (SIGTERM)")
        await self.supervisor.stop(within_seconds=8.0)
        self.process.alive = False

    def _gave_up(self, name: str, error: BaseException | None) -> None:
        self.world.trace(self.process.name, f"gives up on {name}: {error!r}")
        self.crash()
