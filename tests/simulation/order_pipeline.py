"""One simulated run of the command side: replicas, customers, faults, then the invariants.

The real code runs here, not a copy: each replica is `CreateOrderHandler` with
`MongoUnitOfWork` and `MongoIdempotencyKeys`, an `OutboxRelay` with `MongoOutbox` and
`RelayRegistry`, on a `ServerClock`, its background tasks under a `TaskSupervisor`, as
`order_service.bootstrap` wires them; only the servers are simulated (`world`).

A run: 1 to 4 replicas and a few customers placing orders (with an Idempotency-Key or
without, retrying as a careful client does), the shop confirming and shipping some and
cancelling others (`ChangeOrderHandler`; some commands race), while the seed injects faults
for `CHAOS` seconds; then every fault heals, crashed replicas come back, and time runs on for the
README's bound. Then the invariants are checked (`Violation` names the first broken one).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from random import Random
from typing import Any
from uuid import UUID

from order_platform.building_blocks.runtime.task_supervisor import TaskSupervisor
from order_platform.order_service.application.change_order import (
    ChangeOrder,
    ChangeOrderHandler,
)
from order_platform.order_service.application.create_order import (
    CreateOrder,
    CreateOrderHandler,
    IdempotencyKeyReused,
    RequestInFlight,
)
from order_platform.order_service.application.order_access import Requester
from order_platform.order_service.application.ports import (
    OrderAlreadyExists,
    OrderChangedMeanwhile,
    StorageUnavailable,
    WriteOutcomeUnknown,
)
from order_platform.order_service.domain import Command, TransitionNotAllowed
from order_platform.order_service.infrastructure.idempotency_keys import MongoIdempotencyKeys
from order_platform.order_service.infrastructure.write_model import MongoUnitOfWork
from order_platform.order_service.outbox.entry import FENCED_FIELD, OutboxEntry
from order_platform.order_service.outbox.relay import OutboxRelay
from order_platform.order_service.outbox.relay_registry import RelayRegistry
from order_platform.order_service.outbox.server_clock import ServerClock
from order_platform.order_service.outbox.store import MongoOutbox
from tests.simulation.caught_errors import CaughtErrors
from tests.simulation.consumers import NOTIFY_GROUP, READ_GROUP, ConsumingSide, Member
from tests.simulation.rebuild import Operator
from tests.simulation.virtual_time import VirtualTimeLoop
from tests.simulation.world import (
    Claimed,
    FaultRates,
    Process,
    Publish,
    SimCollection,
    SimPublisher,
    World,
    at_once,
)
from tests.unit.read_service.fakes import FakeReadModel

MAX_BACKOFF = timedelta(seconds=5)


@dataclass(frozen=True)
class RelaySettings:
    """OUTBOX_LEASE_SECONDS and OUTBOX_SWEEP_INTERVAL_SECONDS for a run, chosen by its seed:
    the defaults mostly, short ones too, so that leases run out and sweeps race with the
    other paths far more often than the defaults alone would let them."""

    lease: timedelta = timedelta(seconds=10)
    sweep_interval: timedelta = timedelta(seconds=60)

    @classmethod
    def drawn(cls, rng: Random) -> RelaySettings:
        lease, sweep = rng.choice(((10, 60), (10, 60), (2, 5), (3, 10), (5, 20)))
        return cls(timedelta(seconds=lease), timedelta(seconds=sweep))

    @property
    def bound_s(self) -> float:
        """The README's bound: no entry stays unpublished longer than this once the broker
        is reachable and a relay lives (a sweep interval and a lease, plus one backoff)."""
        return (self.lease + self.sweep_interval + MAX_BACKOFF).total_seconds()


CHAOS = 40.0  # seconds of faults before everything heals
QUIET_AFTER = CHAOS + 15.0  # customers and operators start until then, some after the heal
# How long after the heal the consuming side has to project and notify every published
# event (its members rejoin their groups, back off, their ledger claims run out).
CONSUMERS_BOUND_S = 75.0
# Still behind then, it is slow, not stuck, while each group behind keeps committing: a
# backlog through one event per batch, a slow read model and a rebuild writing twice takes
# longer (seed 56658). A group behind with no commit for this long is stuck (longer than a
# claim's lifetime and a slow batch); the checks then report what it left undone.
CONSUMERS_STALL_S = 45.0
CONSUMERS_CAP_S = 600.0
SHUTDOWN_DRAIN = 2.0


CHAOS_KINDS = frozenset(
    {"crash", "stop", "pause", "mongo", "broker", "read_model", "redis", "rebuild"}
)


@dataclass(frozen=True)
class Scenario:
    """What a run's seed would otherwise choose, set from outside (hypothesis, to shrink a
    failing run: fewer replicas, customers and members, lower fault rates, fewer kinds of
    chaos). Without one, the seed chooses everything, and a seed always means one run."""

    seed: int
    replicas: int = 4
    readers: int = 3
    notifiers: int = 3
    customers: int = 8
    rates: FaultRates = field(default_factory=FaultRates)
    chaos: frozenset[str] = CHAOS_KINDS
    lifecycle: bool = True  # orders are confirmed, shipped and cancelled


class Violation(AssertionError):
    """An invariant does not hold at the end of a run."""


@dataclass
class Outcome:
    """What a customer was told, attempt by attempt."""

    name: str
    key: str | None
    answers: list[str] = field(default_factory=list)
    order_id: str | None = None


@dataclass
class CommandOutcome:
    """What the shop was told about one command on an order, attempt by attempt; `version`
    is the order's version its change made (None: it changed nothing, or a replay)."""

    order_name: str
    command: str
    key: str | None
    answers: list[str] = field(default_factory=list)
    version: int | None = None


# What the shop does with an order: each a sequence of commands (the last of the longest is
# refused: a shipped order cannot be cancelled).
PLANS = (
    ("confirm",),
    ("confirm", "ship"),
    ("cancel",),
    ("confirm", "cancel"),
    ("confirm", "ship", "cancel"),
)
REQUESTER = Requester(subject=None, acts_on_every_order=True)


@dataclass
class RunReport:
    seed: int
    replicas: int
    orders: int
    stored: int
    published: int
    duplicates: int
    faults: Counter[str]
    steps: int
    trace: list[str]
    invariants_checked: int = 0
    notified_twice: int = 0
    changes: int = 0  # transitions stored
    commands: int = 0  # confirm, ship and cancel sent
    violation: str | None = None


class WatchedOutbox(MongoOutbox):
    """`MongoOutbox`, telling the world which entries its sweeps claimed: a lease changes
    hands only so, which tells the duplicates the README states from the others."""

    def __init__(self, world: World, orders: SimCollection, **kwargs: Any) -> None:
        super().__init__(orders, **kwargs)  # type: ignore[arg-type]
        self._world = world

    async def claim_expired(self, now: datetime, limit: int) -> list[OutboxEntry]:
        claimed = await super().claim_expired(now, limit)
        at = self._world.loop.time()
        self._world.claims.extend((at, entry.event_id, self.owner) for entry in claimed)
        return claimed


def unstated_duplicates(published: Sequence[Publish], claims: Sequence[Claimed]) -> list[str]:
    """The publishes of an event again that no cause the README states explains. Stated: the
    previous publisher did not hear the broker's acknowledgement (lost, or it crashed), or the
    lease changed hands (its holder died, lost MongoDB or paused past it, and a sweep claimed
    the entry): then the next publish is by another relay, or by one that claimed it back."""
    history: dict[str, list[Publish]] = {}
    for publish in published:
        history.setdefault(publish.event_id, []).append(publish)
    claimed: dict[str, list[Claimed]] = {}
    for claim in claims:
        claimed.setdefault(claim[1], []).append(claim)
    problems = []
    for event_id, publishes in history.items():
        for before, again in itertools.pairwise(publishes):
            if not before.acknowledged:
                continue
            event_claims = claimed.get(event_id, [])
            if again.publisher != before.publisher:
                explained = bool(event_claims)
            else:
                explained = any(
                    before.at <= at <= again.at and by == again.publisher
                    for at, _, by in event_claims
                )
            if not explained:
                problems.append(
                    f"event {event_id} was published again by {again.publisher} at"
                    f" {again.at:.3f}s (after {before.publisher} at {before.at:.3f}s) for no"
                    " stated cause"
                )
    return problems


def listing_problems(read_model: FakeReadModel) -> list[str]:
    """The live generation's pages, walked as a client walks them: each order once."""
    listed: Counter[UUID] = Counter()
    after = None
    for _ in range(len(read_model.orders) + 1):
        page = at_once(read_model.page(7, after))
        listed.update(view.id for view in page.orders)
        if (after := page.next_after) is None:
            break
    problems = [f"order {order_id} is listed {n} times" for order_id, n in listed.items() if n > 1]
    problems.extend(
        f"order {order_id} is in the read model but not listed"
        for order_id in read_model.orders
        if order_id not in listed
    )
    return problems


class Replica:
    """One Order Service process: the real core, wired as `bootstrap` wires it."""

    def __init__(
        self,
        world: World,
        name: str,
        *,
        skew: float,
        max_in_memory: int,
        settings: RelaySettings,
    ) -> None:
        self.world = world
        self.process = Process(name)
        process = self.process
        self.clock = ServerClock(
            lambda: world.hello(process),
            monotonic=world.loop.time,
            wall=lambda: world.now() + timedelta(seconds=skew),
        )
        orders = self.orders = world.collection(process, "orders")
        self.relay = OutboxRelay(
            WatchedOutbox(world, orders, owner=name, lease=settings.lease, clock=self.clock),
            RelayRegistry(
                world.collection(process, "outbox_relays"), owner=name, lease=settings.lease
            ),
            SimPublisher(world, process),
            self.clock,
            batch_size=50,
            max_backoff=MAX_BACKOFF,
            max_in_memory=max_in_memory,
            sweep_interval=settings.sweep_interval,
        )
        relay = self.relay
        keys = MongoIdempotencyKeys(
            world.collection(process, "idempotency_keys"), keep_for=timedelta(hours=24)
        )
        self.create_order = CreateOrderHandler(
            new_unit_of_work=lambda: MongoUnitOfWork(orders, outbox=relay),
            idempotency_keys=keys,
            clock=self.clock,
            new_id=world.new_id,
        )
        self.change_order = ChangeOrderHandler(
            new_unit_of_work=lambda: MongoUnitOfWork(orders, outbox=relay),
            idempotency_keys=keys,
            clock=self.clock,
            new_id=world.new_id,
        )
        self.supervisor = TaskSupervisor(
            give_up_after_seconds=60.0, clock=world.loop.time, on_give_up=self._gave_up
        )

    def spawn(self, work: asyncio.Future[object] | object) -> asyncio.Task[object]:
        task: asyncio.Task[object] = asyncio.ensure_future(work)  # type: ignore[arg-type]
        self.process.tasks[task] = None
        task.add_done_callback(lambda done: self.process.tasks.pop(done, None))
        return task

    def spawn_outside(self, work: object) -> None:
        """Work that outlives the process's own tasks (its shutdown), kept until it ends."""
        task: asyncio.Task[object] = asyncio.ensure_future(work)  # type: ignore[arg-type]
        self._shutdown = task

    async def start(self) -> None:
        self.world.trace(self.process.name, "starts")
        await self.clock.sync_soon(within_seconds=1.0)
        self.supervisor.start("server-clock", self.clock.keep_synced)
        self.supervisor.start(
            "outbox-relay",
            lambda: self.clock.once_synced(self.relay.run),
            request_stop=self.relay.request_stop,
        )

    def crash(self) -> None:
        self.world.trace(self.process.name, "crashes")
        self.process.crash(self.supervisor)

    async def stop(self) -> None:
        """SIGTERM: the background stops, then the relay drains what it holds."""
        self.world.trace(self.process.name, "stops (SIGTERM)")
        await self.supervisor.stop(within_seconds=3.0)
        await self.relay.drain(within_seconds=SHUTDOWN_DRAIN)
        self.process.alive = False

    def _gave_up(self, name: str, error: BaseException | None) -> None:
        self.world.trace(self.process.name, f"gives up on {name}: {error!r}")
        self.crash()


class Simulation:
    def __init__(
        self, seed: int, loop: asyncio.AbstractEventLoop, scenario: Scenario | None = None
    ) -> None:
        self.seed = seed
        self.rng = Random(seed)
        self.scenario = scenario
        rates = FaultRates.drawn(self.rng)
        self.world = World(self.rng, loop, rates if scenario is None else scenario.rates)
        self.replicas: list[Replica | None] = []
        self._names = 0
        self.max_in_memory = self.rng.choice((50_000, 50_000, 2, 5))
        self.outcomes: list[Outcome] = []
        self.commands: list[CommandOutcome] = []
        self._lifecycles: list[asyncio.Future[None]] = []
        self.side = ConsumingSide(self.world)
        self._stopping: set[asyncio.Future[None]] = set()
        self._operators: set[asyncio.Future[None]] = set()
        self.members: dict[str, list[Member | None]] = {READ_GROUP: [], NOTIFY_GROUP: []}
        self.max_batch = self.rng.choice((1, 3, 500))
        self.settings = RelaySettings.drawn(self.rng)
        self.unpublished: list[str] = []

    def _new_member(self, group: str, slot: int) -> Member:
        self._names += 1
        prefix = "read" if group == READ_GROUP else "notify"
        member = Member(self.side, group, f"{prefix}{slot}.{self._names}", max_batch=self.max_batch)
        self.members[group][slot] = member
        member.start()
        return member

    def _chosen(self, drawn: int, name: str) -> int:
        """What the seed drew, unless the scenario sets it."""
        return drawn if self.scenario is None else int(getattr(self.scenario, name))

    def _new_replica(self, slot: int) -> Replica:
        self._names += 1
        skew = self.rng.uniform(-30.0, 30.0)
        replica = Replica(
            self.world,
            f"r{slot}.{self._names}",
            skew=skew,
            max_in_memory=self.max_in_memory,
            settings=self.settings,
        )
        self.replicas[slot] = replica
        replica.spawn(replica.start())
        return replica

    def _live(self) -> list[Replica]:
        return [r for r in self.replicas if r is not None and r.process.alive]

    async def run(self) -> None:
        count = self._chosen(self.rng.randint(1, 4), "replicas")
        self.replicas = [None] * count
        for slot in range(count):
            self._new_replica(slot)
        for group in self.members:
            members = self._chosen(
                self.rng.randint(1, 3), "readers" if group == READ_GROUP else "notifiers"
            )
            self.members[group] = [None] * members
            for slot in range(len(self.members[group])):
                self._new_member(group, slot)
        customers = [
            asyncio.ensure_future(self._customer(number, start=self.rng.uniform(0, QUIET_AFTER)))
            for number in range(self._chosen(self.rng.randint(1, 8), "customers"))
        ]
        chaos = [
            asyncio.ensure_future(self._chaos()),
            asyncio.ensure_future(self._consumer_chaos()),
        ]
        if self.rng.random() < 0.5 and (self.scenario is None or "rebuild" in self.scenario.chaos):
            self._operators.add(asyncio.ensure_future(self._operator()))
        await asyncio.sleep(CHAOS)
        for each in chaos:
            each.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await each
        self.world.trace("world", "heals")
        self.world.heal()
        self.side.cache.available = True
        for slot, replica in enumerate(self.replicas):
            if replica is None or not replica.process.alive:
                self._new_replica(slot)
            else:
                replica.process.resume()
        for group, members in self.members.items():
            for slot, member in enumerate(members):
                if member is None or not member.process.alive:
                    self._new_member(group, slot)
                else:
                    member.process.resume()
        await asyncio.gather(*customers)
        await asyncio.gather(*self._lifecycles)
        customers_done_at = self.world.loop.time()  # their last orders were stored by then
        await self._heal_plus(self.settings.bound_s, since=customers_done_at)
        self.world.trace("world", "checks that every stored order is published")
        self.unpublished = self._unpublished()
        await self._heal_plus(CONSUMERS_BOUND_S, since=customers_done_at)
        await self._while_consumers_progress(until=customers_done_at + CONSUMERS_CAP_S)
        self.world.trace("world", "checks the invariants")
        self.world.trace.closed = True

    async def _operator(self) -> None:
        """An operator rebuilds the read model, once or twice, at times the seed chooses; their
        process may crash mid-rebuild (the next one takes the dead rebuild over)."""
        loop = self.world.loop
        for _ in range(self.rng.randint(1, 2)):
            await asyncio.sleep(self.rng.uniform(0.0, QUIET_AFTER))
            self._names += 1
            operator = Operator(
                self.world, self.side.generations, self._serving, f"operator.{self._names}"
            )
            task = asyncio.ensure_future(operator.rebuild_until_done(attempts=8))
            operator.process.tasks[task] = None
            if self.rng.random() < 0.3 and loop.time() < CHAOS:
                loop.call_later(self.rng.uniform(0.5, 12.0), self._crash_operator, operator)
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _crash_operator(self, operator: Operator) -> None:
        """A crash during the chaos only: once everything heals, nothing crashes any more."""
        if operator.process.alive and not self.world.healed_at:
            self.world.trace(operator.process.name, "crashes")
            operator.process.alive = False
            for task in list(operator.process.tasks):
                task.cancel()

    def _serving(self) -> tuple[Process, SimCollection] | None:
        """A live replica to answer the operator's export, the seed's choice."""
        live = self._live()
        if not live:
            return None
        replica = self.rng.choice(live)
        return replica.process, replica.orders

    async def _heal_plus(self, seconds: float, *, since: float = 0.0) -> None:
        """Until `seconds` after the heal (or `since`); a write sent before the heal may land
        after it (`late`), and then the time counts from that write."""
        loop = self.world.loop
        while (
            start := max(self.world.healed_at, self.world.last_late_write_at, since)
        ) + seconds > (now := loop.time()):
            await asyncio.sleep(start + seconds - now)

    async def _while_consumers_progress(self, *, until: float) -> None:
        """Wait while some group is behind and every group behind commits within
        `CONSUMERS_STALL_S` (up to `until`)."""
        topic, loop = self.world.topic, self.world.loop
        while loop.time() < until:
            behind = {
                name: dict(group.committed)
                for name, group in topic.groups.items()
                if any(
                    group.committed.get(partition, 0) < len(log)
                    for partition, log in enumerate(topic.partitions)
                )
            }
            if not behind:
                return
            self.world.trace("world", f"waits on the consuming side: {sorted(behind)} behind")
            await asyncio.sleep(min(CONSUMERS_STALL_S, until - loop.time()))
            if any(topic.groups[name].committed == before for name, before in behind.items()):
                return  # stuck

    def _unpublished(self) -> list[str]:
        published = {publish.event_id for publish in self.world.published}
        return [
            f"order {doc['_id']} is stored but its event {event_id} was not published"
            f" {self.settings.bound_s:.0f}s after the heal"
            for doc in self.world.raw("orders").find({FENCED_FIELD: {"$exists": False}})
            for event_id in events_of(doc)
            if event_id not in published
        ]

    async def _chaos(self) -> None:
        """Crashes, SIGTERMs, pauses and outages at times the seed chooses."""
        loop = self.world.loop
        while True:
            await asyncio.sleep(self.rng.expovariate(1 / 6.0))
            slot = self.rng.randrange(len(self.replicas))
            replica = self.replicas[slot]
            what = self.rng.choice(("crash", "stop", "pause", "mongo", "broker", "broker"))
            if self.scenario is not None and what not in self.scenario.chaos:
                continue
            if what in ("crash", "stop", "pause") and (
                replica is None or not replica.process.alive
            ):
                continue
            assert replica is not None or what in ("mongo", "broker")
            if what == "crash":
                assert replica is not None
                replica.crash()
                self.replicas[slot] = None
                self._later(self.rng.uniform(0.5, 20.0), slot)
            elif what == "stop":
                assert replica is not None
                self.replicas[slot] = None
                replica.spawn_outside(replica.stop())
                self._later(self.rng.uniform(0.5, 20.0), slot)
            elif what == "pause":
                assert replica is not None
                pause = self.rng.uniform(1.0, 25.0)
                self.world.trace(replica.process.name, f"pauses for {pause:.1f}s")
                replica.process.pause(loop.time() + pause)
            elif what == "mongo":
                outage = self.rng.uniform(0.5, 12.0)
                self.world.trace("world", f"MongoDB unreachable for {outage:.1f}s")
                self.world.mongo_down_until = loop.time() + outage
            else:
                outage = self.rng.uniform(0.5, 30.0)
                self.world.trace("world", f"broker unreachable for {outage:.1f}s")
                self.world.broker_down_until = loop.time() + outage

    async def _consumer_chaos(self) -> None:
        """Members of the consumer groups crash, stop, pause (rebalances follow); the read
        model's MongoDB and Redis go away for a while."""
        loop = self.world.loop
        while True:
            await asyncio.sleep(self.rng.expovariate(1 / 6.0))
            group = self.rng.choice((READ_GROUP, NOTIFY_GROUP))
            slot = self.rng.randrange(len(self.members[group]))
            member = self.members[group][slot]
            what = self.rng.choice(("crash", "stop", "pause", "read_model", "redis"))
            if self.scenario is not None and what not in self.scenario.chaos:
                continue
            if what in ("read_model", "redis"):
                outage = self.rng.uniform(0.5, 15.0)
                self.world.trace("world", f"{what} unreachable for {outage:.1f}s")
                if what == "read_model":
                    self.world.read_model_down_until = loop.time() + outage
                else:
                    self.world.redis_down_until = loop.time() + outage
                    self.side.cache.available = False
                    loop.call_later(outage, self._redis_back)
                continue
            if member is None or not member.process.alive:
                continue
            if what == "crash":
                member.crash()
            elif what == "stop":
                self._stopping.add(asyncio.ensure_future(member.stop()))
            else:
                pause = self.rng.uniform(1.0, 25.0)
                self.world.trace(member.process.name, f"pauses for {pause:.1f}s")
                member.process.pause(loop.time() + pause)
                continue
            self.members[group][slot] = None
            loop.call_later(self.rng.uniform(0.5, 20.0), self._member_back, group, slot)

    def _redis_back(self) -> None:
        if self.world.loop.time() >= self.world.redis_down_until:
            self.side.cache.available = True

    def _member_back(self, group: str, slot: int) -> None:
        if self.members[group][slot] is None:
            self._new_member(group, slot)

    def _later(self, delay: float, slot: int) -> None:
        def restart() -> None:
            if self.replicas[slot] is None:
                self._new_replica(slot)

        self.world.loop.call_later(delay, restart)

    async def _customer(self, number: int, *, start: float) -> None:
        """A customer places one to three orders, one after the other."""
        await asyncio.sleep(start)
        for order in range(self.rng.randint(1, 3)):
            if order:
                await asyncio.sleep(self.rng.uniform(0.2, 8.0))
            await self._place(f"customer-{number}-{order}")

    async def _place(self, name: str) -> None:
        """One order, as a careful client places it: retried with its key after an unknown
        outcome; without a key, only after "nothing was stored"."""
        key = f"key-{name}" if self.rng.random() < 0.7 else None
        outcome = Outcome(name, key)
        self.outcomes.append(outcome)
        command = CreateOrder(name, Decimal("19.90"), idempotency_key=key)
        try:
            created = await self._send(
                name,
                key,
                outcome.answers,
                "POST /orders",
                "nothing stored",
                lambda replica: replica.create_order(command),
            )
        except (IdempotencyKeyReused, OrderAlreadyExists) as error:
            outcome.answers.append(f"error {type(error).__name__}")
            return
        if created is None:
            return
        outcome.answers.append("201" if not created.replayed else "201 replayed")
        outcome.order_id = str(created.order.id)
        self.world.trace(outcome.name, f"{outcome.answers[-1]} {outcome.order_id[-4:]}")
        if self._lifecycle_on() and self.rng.random() < 0.6:
            self._lifecycles.append(asyncio.ensure_future(self._lifecycle(outcome)))

    def _lifecycle_on(self) -> bool:
        return self.scenario is None or self.scenario.lifecycle

    async def _lifecycle(self, outcome: Outcome) -> None:
        """The shop moves an order on, a command at a time; now and then the customer's
        cancel races the shop's first command."""
        assert outcome.order_id is not None
        order_id = UUID(outcome.order_id)
        racing = self.rng.random() < 0.25
        for command in self.rng.choice(PLANS):
            await asyncio.sleep(self.rng.uniform(0.05, 4.0))
            sent = [self._command(outcome.name, order_id, command)]
            if racing:
                sent.append(self._command(outcome.name, order_id, "cancel"))
                racing = False
            await asyncio.gather(*sent)

    async def _command(self, name: str, order_id: UUID, command: str) -> None:
        """One command, as a careful client sends it: retried with its key after an unknown
        outcome; without a key, only after "nothing was changed"."""
        key = f"key-{name}-{command}-{self.rng.random():.6f}" if self.rng.random() < 0.7 else None
        outcome = CommandOutcome(name, command, key)
        self.commands.append(outcome)
        change = ChangeOrder(order_id, Command(command), REQUESTER, idempotency_key=key)
        try:
            changed = await self._send(
                name,
                key,
                outcome.answers,
                f"POST /orders/{str(order_id)[-4:]}/{command}",
                "nothing changed",
                lambda replica: replica.change_order(change),
            )
        except (TransitionNotAllowed, OrderChangedMeanwhile) as refused:
            outcome.answers.append(f"409 {type(refused).__name__}")
            self.world.trace(name, outcome.answers[-1])
            return
        except Exception as error:  # any other answer is the check's to judge
            outcome.answers.append(f"error {type(error).__name__}: {error}")
            return
        if changed is None:
            return
        outcome.answers.append("200" if not changed.replayed else "200 replayed")
        if not changed.replayed:
            outcome.version = changed.order.version
        self.world.trace(name, f"{outcome.answers[-1]} v{changed.order.version}")

    async def _send[T](
        self,
        name: str,
        key: str | None,
        answers: list[str],
        request: str,
        nothing_done: str,
        call: Callable[[Replica], Awaitable[T]],
    ) -> T | None:
        """A request to a live replica, retried as a careful client does: with its key after
        an unknown outcome, without one only after "nothing done" (503). None when the client
        gives up; a refusal is raised to the caller, which judges it."""
        for _ in range(8):
            live = self._live()
            if not live:
                await asyncio.sleep(1.0)
                continue
            replica = self.rng.choice(live)
            self.world.trace(name, f"{request} to {replica.process.name} (key {key})")
            task = replica.spawn(call(replica))
            try:
                return await task
            except asyncio.CancelledError:
                answers.append("connection closed")  # the replica crashed
                if key is None:
                    return None  # its outcome is unknown: a careful client does not repeat it
            except StorageUnavailable:
                answers.append(f"503 {nothing_done}")
            except WriteOutcomeUnknown:
                answers.append("503 outcome unknown")
                if key is None:
                    return None
            except RequestInFlight:
                answers.append("409 in flight")
            self.world.trace(name, answers[-1])
            await asyncio.sleep(self.rng.uniform(0.2, 6.0))
        return None

    def _lifecycle_problems(self, stored: dict[str, Any]) -> list[str]:
        """The shop's answers against what is stored: each version won once, no command
        answered what an order cannot be, and the read model ends as the write model."""
        problems: list[str] = []
        by_name = {outcome.name: outcome.order_id for outcome in self.outcomes}
        won: Counter[tuple[str | None, int]] = Counter()
        for command in self.commands:
            order_id = by_name.get(command.order_name)
            if command.version is not None:
                won[(order_id, command.version)] += 1
                if order_id not in stored or command.version > stored[order_id].get("version", 1):
                    problems.append(f"{command} was answered 200 but its change is not stored")
            if any(answer.startswith("error") for answer in command.answers):
                problems.append(f"{command} was answered {command.answers}")
        problems += [
            f"version {version} of order {order_id} was won by {count} commands"
            for (order_id, version), count in won.items()
            if count > 1
        ]
        read_model = self.side.read_model()
        for order_id, doc in stored.items():
            view = read_model.orders.get(UUID(order_id))
            if view is None:
                continue  # reported by the publication checks
            written = (doc.get("status", "placed"), doc.get("version", 1))
            if (view.status, view.version) != written:
                problems.append(
                    f"order {order_id} reads {view.status} v{view.version} but is"
                    f" {written[0]} v{written[1]}"
                )
        return problems

    def check(self, caught: Sequence[str] = ()) -> RunReport:
        """The invariants, on what the database holds and what the broker took in, and on
        what the processes caught (`caught_errors`)."""
        world = self.world
        stored = {
            doc["_id"]: doc for doc in world.raw("orders").find({FENCED_FIELD: {"$exists": False}})
        }
        event_of = {order_id: doc["outbox"]["eventId"] for order_id, doc in stored.items()}
        order_of = {
            event_id: order_id for order_id, doc in stored.items() for event_id in events_of(doc)
        }
        published = Counter(publish.event_id for publish in world.published)
        report = RunReport(
            seed=self.seed,
            replicas=len(self.replicas),
            orders=len(self.outcomes),
            stored=len(stored),
            published=len(published),
            duplicates=sum(published.values()) - len(published),
            faults=world.faults,
            steps=world.calls,
            trace=world.trace.lines,
        )
        problems = list(self.unpublished)
        known = set(order_of)
        for event_id in published:
            if event_id not in known:
                problems.append(f"event {event_id} was published but no stored order has it")
        read_model = self.side.read_model()
        received = self.side.customers.received
        for event_id in published:
            if (order_id := order_of.get(event_id)) is None:
                continue  # a phantom, reported above
            view = read_model.orders.get(UUID(order_id))
            if view is None or UUID(order_id) not in read_model.readable:
                problems.append(f"order {order_id} was published but is not readable")
            elif str(view.event_id) != event_of[order_id]:
                problems.append(f"order {order_id} is read from another event {view.event_id}")
            if received[UUID(event_id)] == 0:
                problems.append(f"order {order_id} was published but its customer never notified")
        for order_id in read_model.orders:
            if str(order_id) not in stored:
                problems.append(f"order {order_id} is in the read model but was never stored")
        for event_id in received:
            if str(event_id) not in published:
                problems.append(f"event {event_id} was notified but never published")
        problems.extend(unstated_duplicates(world.published, world.claims))
        problems.extend(f"dead letter {letter}" for letter in world.dead_letters)
        problems.extend(
            f"{where} ({count} times): an error no fault injects"
            for where, count in Counter(caught).items()
        )
        report.notified_twice = sum(1 for count in received.values() if count > 1)
        by_customer = Counter(doc["customerName"] for doc in stored.values())
        for outcome in self.outcomes:
            if by_customer[outcome.name] > 1:
                problems.append(
                    f"{outcome.name} (key {outcome.key}) has {by_customer[outcome.name]} orders"
                    f" after {outcome.answers}"
                )
            if outcome.order_id is not None and outcome.order_id not in stored:
                problems.append(
                    f"{outcome.name} was told 201 but order {outcome.order_id} is not stored"
                )
        # Per stored order: published; per published event: stored; per customer: one order,
        # and the one it was told of.
        problems.extend(listing_problems(read_model))
        problems.extend(self._lifecycle_problems(stored))
        report.changes = sum(doc.get("version", 1) - 1 for doc in stored.values())
        report.commands = len(self.commands)
        report.invariants_checked = (
            len(order_of)
            + 5 * len(published)
            + 3 * len(read_model.orders)
            + 2 * len(self.outcomes)
            + 2 * len(self.commands)
        )
        report.violation = "; ".join(problems) or None
        return report


def simulate(seed: int, scenario: Scenario | None = None) -> RunReport:
    """One run, from scratch, on a loop of its own; the same seed (and scenario) gives the
    same run."""
    random.seed(seed)  # the backoff's jitter uses the module's generator
    loop = VirtualTimeLoop()
    try:
        simulation = Simulation(seed, loop, scenario)
        with CaughtErrors() as caught:
            loop.run_until_complete(simulation.run())
        report = simulation.check(caught.found)
    finally:
        # Some cleanups await (a cancelled rebuild abandons its generation): cancel until done.
        for _ in range(10):
            if not (pending := [task for task in asyncio.all_tasks(loop) if not task.done()]):
                break
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.wait(pending, timeout=1.0))
        loop.close()
    return report


def events_of(document: dict[str, Any]) -> list[str]:
    """The ids of every event a stored order recorded: its creation's, then its changes'."""
    return [document["outbox"]["eventId"], *document.get("transitionEventIds", ())]
