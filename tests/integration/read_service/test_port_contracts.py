"""One contract per query-side port, run against the hand-written fake and the real adapter
(MongoDB, Redis) alike, so that the fakes the unit tests trust cannot drift from the truth."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from pymongo import AsyncMongoClient
from redis.asyncio import Redis

from order_platform.building_blocks.mongo.client import new_client
from order_platform.devtools.embedded import RedisServer
from order_platform.read_service.application.ports import (
    CacheUnavailable,
    Generations,
    Page,
    ReadModel,
    ReadModelGenerations,
    ReadModelUnavailable,
    Staged,
    ViewCache,
)
from order_platform.read_service.domain import OrderChange, OrderView
from order_platform.read_service.infrastructure.cache import RedisViewCache
from order_platform.read_service.infrastructure.generations import (
    MongoReadModelGenerations,
    PointerMoved,
)
from order_platform.read_service.infrastructure.pointer_cache import Pointer
from order_platform.read_service.infrastructure.read_model import MongoReadModel
from tests.support.fault_proxy import FaultProxy
from tests.unit.read_service.fakes import (
    FakeReadModel,
    FakeReadModelGenerations,
    FakeViewCache,
)

# Millisecond precision, as on the wire (RFC 3339 in OrderCreated) and in BSON.
T0 = datetime(2026, 11, 25, 8, 0, 0, 250_000, tzinfo=UTC)


def view(created_at: datetime = T0, order_id: UUID | None = None, name: str = "Lucas") -> OrderView:
    return OrderView(order_id or uuid4(), name, Decimal("199.90"), created_at, uuid4())


# -- ReadModel ------------------------------------------------------------------------------


@pytest.fixture(params=["fake", "mongodb"])
async def read_model(request: pytest.FixtureRequest, unique_name: str) -> AsyncIterator[ReadModel]:
    if request.param == "fake":
        yield FakeReadModel()
        return
    mongodb_uri: str = request.getfixturevalue("mongodb_uri")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    yield MongoReadModel(client[unique_name])
    await client.close()


@pytest.fixture(params=["fake", "mongodb"])
async def away_read_model(
    request: pytest.FixtureRequest, unused_tcp_port: int
) -> AsyncIterator[ReadModel]:
    if request.param == "fake":
        fake = FakeReadModel()
        fake.available = False
        yield fake
        return
    client = new_client(f"mongodb://127.0.0.1:{unused_tcp_port}", timeout_seconds=0.3)
    yield MongoReadModel(client["nowhere"])
    await client.close()


async def test_an_unknown_order_is_none(read_model: ReadModel) -> None:
    assert await read_model.get(uuid4()) is None


async def test_an_applied_order_reads_back_as_it_was(read_model: ReadModel) -> None:
    applied = view(name="Zoë 李 🍕")
    await read_model.apply([applied])

    assert await read_model.get(applied.id) == applied


async def test_an_order_stays_as_first_applied(read_model: ReadModel) -> None:
    first = view()
    later = view(order_id=first.id, name="Someone else")
    await read_model.apply([first, later])
    await read_model.apply([later])
    await read_model.apply([first])  # a redelivery

    assert await read_model.get(first.id) == first
    assert (await read_model.page(10, None)).orders == [first]


async def test_a_staged_order_is_listed_and_readable_by_id_only_once_revealed(
    read_model: ReadModel,
) -> None:
    staged = view()
    batch = await read_model.stage([staged])

    assert (await read_model.page(10, None)).orders == [staged]
    assert await read_model.get(staged.id) is None
    assert await read_model.projected(staged.id) is None

    await read_model.reveal(batch)
    await read_model.reveal(batch)  # a retry

    assert await read_model.get(staged.id) == staged
    found = await read_model.projected(staged.id)
    assert found is not None
    assert found[0] == staged


async def test_a_redelivery_makes_an_order_readable_whose_first_batch_was_never_revealed(
    read_model: ReadModel,
) -> None:
    lost, other = view(), view()
    await read_model.stage([lost])  # stopped before `reveal`
    again = await read_model.stage([lost, other])  # redelivered

    assert await read_model.get(lost.id) is None
    await read_model.reveal(again)

    assert await read_model.get(lost.id) == lost
    assert await read_model.get(other.id) == other
    assert (await read_model.page(10, None)).orders == sorted(
        [lost, other], key=lambda v: v.position, reverse=True
    )


async def test_a_batch_names_the_orders_it_stored_first_not_those_it_found_stored(
    read_model: ReadModel,
) -> None:
    known, new = view(), view()
    await read_model.apply([known])

    batch = await read_model.stage([known, new, view(order_id=new.id, name="Someone else")])

    assert list(batch.stored) == [new]


async def test_a_readable_order_stays_readable_while_a_redelivery_is_staged(
    read_model: ReadModel,
) -> None:
    readable = view()
    await read_model.apply([readable])

    await read_model.stage([readable])  # never revealed

    assert await read_model.get(readable.id) == readable


async def test_another_event_for_a_staged_order_makes_nothing_readable(
    read_model: ReadModel,
) -> None:
    first = view()
    await read_model.stage([first])

    await read_model.apply([view(order_id=first.id, name="Someone else")])

    assert await read_model.get(first.id) is None
    assert (await read_model.page(10, None)).orders == [first]


def change(order: OrderView, version: int, status: str = "confirmed", **fields: str) -> OrderChange:
    at = T0 + timedelta(minutes=version)
    return OrderChange(uuid4(), order.id, version, status, at, **fields)


async def changed(read_model: ReadModel, *changes: OrderChange) -> list[OrderView]:
    staged = await read_model.stage_changes(changes)
    await read_model.reveal_changes(staged)
    return list(staged.views)


async def released(read_model: ReadModel, order: OrderView) -> None:
    """What a creation's batch does after storing the order: release its parked changes."""
    await read_model.reveal_changes(await read_model.stage_changes([], release_for=[order.id]))


async def test_a_change_is_listed_once_staged_and_readable_by_id_once_revealed(
    read_model: ReadModel,
) -> None:
    placed = view()
    await read_model.apply([placed])
    confirmed = change(placed, 2).applied_to(placed)

    staged = await read_model.stage_changes([change(placed, 2)])

    assert list(staged.views) == [confirmed]
    assert (await read_model.page(10, None)).orders == [confirmed]
    assert await read_model.get(placed.id) == placed
    await read_model.reveal_changes(staged)
    await read_model.reveal_changes(staged)  # a retry
    assert await read_model.get(placed.id) == confirmed
    assert (await read_model.page(10, None)).orders == [confirmed]


async def test_an_orders_changes_apply_in_version_order_each_once(read_model: ReadModel) -> None:
    placed = view()
    await read_model.apply([placed])
    confirm, ship = change(placed, 2), change(placed, 3, "shipped", tracking_number="TN-1")

    await changed(read_model, ship, confirm)  # one batch, out of order
    assert await changed(read_model, confirm, ship) == []  # a redelivery changes nothing

    shipped = ship.applied_to(confirm.applied_to(placed))
    assert await read_model.get(placed.id) == shipped
    assert shipped.tracking_number == "TN-1"
    assert shipped.version == 3
    assert await read_model.parked() == []


async def test_a_change_that_skips_a_version_is_parked_until_the_missing_one(
    read_model: ReadModel,
) -> None:
    placed, other = view(), view(T0 + timedelta(seconds=1))
    await read_model.apply([placed, other])
    confirm, cancel = change(placed, 2), change(placed, 3, "cancelled", cancellation_reason="r")

    assert await changed(read_model, cancel, change(other, 2)) == [
        change(other, 2).applied_to(other)
    ]
    assert await read_model.get(placed.id) == placed  # held back; the other order is not
    (parked,) = await read_model.parked()
    assert (parked.change, parked.waiting_for) == (cancel, 2)

    (released,) = await changed(read_model, confirm)  # e.g. redriven from the dead letters

    assert released == cancel.applied_to(confirm.applied_to(placed))
    assert await read_model.get(placed.id) == released
    assert await read_model.parked() == []


async def test_a_change_before_its_creation_waits_for_it(read_model: ReadModel) -> None:
    placed = view()
    confirm = change(placed, 2)
    assert await changed(read_model, confirm) == []
    assert [p.waiting_for for p in await read_model.parked()] == [1]

    await read_model.apply([placed])
    await released(read_model, placed)

    assert await read_model.get(placed.id) == confirm.applied_to(placed)
    assert await read_model.parked() == []


async def test_parked_changes_are_listed_by_order_and_version_up_to_a_limit(
    read_model: ReadModel,
) -> None:
    """`order-platform dlq list` asks for a bounded listing."""
    first, second = sorted([view(), view()], key=lambda order: str(order.id))
    parked = [change(second, 4), change(first, 3), change(second, 3), change(first, 4)]
    assert await changed(read_model, *parked) == []

    listed = await read_model.parked(limit=3)

    assert [(p.change.order_id, p.change.version, p.waiting_for) for p in listed] == [
        (first.id, 3, 1),
        (first.id, 4, 1),
        (second.id, 3, 1),
    ]
    assert len(await read_model.parked()) == 4


async def test_the_parked_changes_of_chosen_orders_are_listed_by_version(
    read_model: ReadModel,
) -> None:
    """The operator console asks for the orders it shows."""
    first, second, third = view(), view(), view()
    await changed(read_model, change(first, 4), change(first, 3), change(second, 3))
    await changed(read_model, change(third, 5))

    listed = await read_model.parked_of([first.id, second.id])

    expected = [(first.id, 3), (first.id, 4), (second.id, 3)]
    assert [(p.change.order_id, p.change.version) for p in listed] == sorted(
        expected, key=lambda found: (str(found[0]), found[1])
    )
    assert await read_model.parked_of([uuid4()]) == []


async def test_a_change_staged_and_never_revealed_is_finished_by_a_redelivery(
    read_model: ReadModel,
) -> None:
    placed = view()
    await read_model.apply([placed])
    await read_model.stage_changes([change(placed, 2)])  # stopped before `reveal_changes`

    again = await changed(read_model, change(placed, 2))

    assert [v.version for v in again] == [2]
    assert (await read_model.get(placed.id) or placed).status == "confirmed"


async def cancel_released_and_never_revealed(
    read_model: ReadModel,
) -> tuple[OrderView, OrderView]:
    """Simulator seed 41351: the order's cancel came before its creation (parked); the
    creation's batch released it and stopped before `reveal_changes`. The cancel's own event
    was handled long before: it never comes again. The order as placed, and as cancelled."""
    placed = view()
    cancel = change(placed, 2, "cancelled", cancellation_reason="r")
    assert await changed(read_model, cancel) == []  # before its creation: parked
    await read_model.apply([placed])
    await read_model.stage_changes([], release_for=[placed.id])  # stopped before the reveal
    return placed, cancel.applied_to(placed)


async def test_a_released_change_never_revealed_is_finished_by_its_creations_redelivery(
    read_model: ReadModel,
) -> None:
    placed, cancelled = await cancel_released_and_never_revealed(read_model)

    await read_model.apply([placed])  # the creation's batch again
    await released(read_model, cancelled)

    assert await read_model.get(cancelled.id) == cancelled
    assert await read_model.parked() == []


async def test_a_rebuilds_copy_finishes_a_released_change_never_revealed(
    read_model: ReadModel,
) -> None:
    _, cancelled = await cancel_released_and_never_revealed(read_model)

    await read_model.apply([cancelled])  # the copy, as `ReadModelRebuildTarget.apply` writes
    await read_model.catch_up([cancelled])
    await released(read_model, cancelled)

    assert await read_model.get(cancelled.id) == cancelled
    assert await read_model.parked() == []


async def test_each_customers_list_shows_the_current_status(read_model: ReadModel) -> None:
    alices = OrderView(uuid4(), "A", Decimal("1.00"), T0, uuid4(), "alice")
    await read_model.apply([alices])

    await changed(read_model, change(alices, 2, "cancelled"))

    (listed,) = (await read_model.page(10, None, "alice")).orders
    assert (listed.status, listed.version) == ("cancelled", 2)


async def test_a_status_lists_the_orders_in_it_now_newest_first_page_by_page(
    read_model: ReadModel,
) -> None:
    orders = [
        OrderView(uuid4(), f"C{n}", Decimal(1), T0 + timedelta(seconds=n), uuid4(), f"c{n % 2}")
        for n in range(8)
    ]
    await read_model.apply(orders)
    for order in orders[:6]:
        await changed(read_model, change(order, 2))  # confirmed
    for order in orders[:4]:
        await changed(read_model, change(order, 3, "cancelled"))  # and then cancelled
    await changed(read_model, change(orders[4], 3, "shipped"))

    async def walk(status: str, owner: str | None = None) -> list[str]:
        names, after = [], None
        for _ in range(10):
            page = await read_model.page(3, after, owner, status)
            names += [view.customer_name for view in page.orders]
            assert all(view.status == status for view in page.orders)
            if (after := page.next_after) is None:
                return names
        raise AssertionError("the walk did not end")

    assert await walk("cancelled") == ["C3", "C2", "C1", "C0"]
    assert await walk("confirmed") == ["C5"]  # the others moved on
    assert await walk("shipped") == ["C4"]
    assert await walk("placed") == ["C7", "C6"]
    assert await walk("cancelled", "c1") == ["C3", "C1"]
    assert await walk("placed", "c0") == ["C6"]


async def test_a_rebuilds_copy_catches_up_an_order_stored_behind_it(read_model: ReadModel) -> None:
    # The projection stored the creation in the generation being built; the order's changes
    # had been projected before the rebuild began, into the live one only.
    placed, later = view(), view(T0 + timedelta(seconds=1))
    await read_model.apply([placed, later])
    cancelled = replace(
        placed, status="cancelled", version=3, updated_at=T0, cancellation_reason="r"
    )

    await read_model.apply([cancelled])  # the copy: already stored, left as it is
    await read_model.catch_up([cancelled, later])
    await read_model.catch_up([replace(placed, status="confirmed", version=2)])  # older: nothing

    assert await read_model.get(placed.id) == cancelled
    assert (await read_model.page(10, None, status="cancelled")).orders == [cancelled]
    assert await read_model.get(later.id) == later


async def test_an_empty_model_lists_nothing(read_model: ReadModel) -> None:
    assert await read_model.page(10, None) == Page([], None)


async def test_pages_walk_newest_first_ties_by_id_each_order_once(read_model: ReadModel) -> None:
    # Three in one millisecond (ties broken by id), two in other seconds and another minute.
    same = [view(T0, UUID(int=n)) for n in (7, 3, 9)]
    older, newer = view(T0 - timedelta(minutes=1)), view(T0 + timedelta(seconds=1))
    await read_model.apply([same[0], older])
    await read_model.apply([newer, same[1], same[2]])
    expected = sorted([*same, older, newer], key=lambda v: v.position, reverse=True)

    walked: list[OrderView] = []
    after = None
    for _ in range(3):
        page = await read_model.page(2, after)
        walked += page.orders
        after = page.next_after
        if after is None:
            break
        assert after == page.orders[-1].position

    assert walked == expected
    assert after is None


async def test_a_page_that_takes_the_rest_announces_no_next(read_model: ReadModel) -> None:
    views = [view(T0 + timedelta(seconds=n)) for n in range(3)]
    await read_model.apply(views)

    whole = await read_model.page(3, None)
    assert len(whole.orders) == 3
    assert whole.next_after is None
    first = await read_model.page(1, None)
    rest = await read_model.page(5, first.next_after)
    assert [v.id for v in rest.orders] == [views[1].id, views[0].id]
    assert rest.next_after is None


async def test_the_first_page_is_the_newest_whatever_the_order_of_arrival(
    read_model: ReadModel,
) -> None:
    # More orders than the MongoDB model's head holds (256), in batches, one of them
    # redelivered, and a late one older than most (projected last, listed in its place).
    views = [view(T0 + timedelta(milliseconds=7 * n)) for n in range(300)]
    late = view(T0 + timedelta(milliseconds=7 * 120 + 1))
    for start in range(0, 300, 60):
        await read_model.apply(views[start : start + 60])
    await read_model.apply(views[240:300])  # redelivered
    await read_model.apply([late])
    newest_first = sorted([*views, late], key=lambda v: v.position, reverse=True)

    for limit in (1, 50, 200, 255, 256):
        page = await read_model.page(limit, None)
        assert page.orders == newest_first[:limit], limit
        assert page.next_after == newest_first[limit - 1].position


def owned(customer: str | None, created_at: datetime, n: int) -> OrderView:
    return OrderView(UUID(int=n), f"C{n}", Decimal("1.50"), created_at, uuid4(), customer)


async def test_each_customer_pages_through_their_own_orders_only(read_model: ReadModel) -> None:
    # Interleaved over seconds, minutes and days, several customers per batch and per second,
    # with odd customer ids (a colon, a prefix of another's id, unicode).
    customers = ["alice", "alice:x", "ali", "Zoë 李", None]
    orders = [
        owned(customers[n % 5], T0 - timedelta(days=n // 7, minutes=n % 3, seconds=n // 2), n)
        for n in range(1, 36)
    ]
    for start in range(0, len(orders), 6):
        await read_model.apply(orders[start : start + 6])

    async def walk(owner: str | None, limit: int) -> list[OrderView]:
        walked: list[OrderView] = []
        page = await read_model.page(limit, None, owner)
        walked += page.orders
        while page.next_after is not None:
            assert len(page.orders) == limit
            page = await read_model.page(limit, page.next_after, owner)
            walked += page.orders
        return walked

    newest_first = sorted(orders, key=lambda v: v.position, reverse=True)
    for customer in customers[:4]:
        for limit in (1, 3, 200):
            assert await walk(customer, limit) == [
                v for v in newest_first if v.customer_id == customer
            ]
    assert await walk(None, 4) == newest_first  # the whole list: everyone's
    assert await walk("nobody", 2) == []


async def test_a_redelivered_order_is_listed_once_for_its_customer(read_model: ReadModel) -> None:
    mine = owned("alice", T0, 1)
    await read_model.apply([mine])
    await read_model.apply([mine, owned("bob", T0, 2)])

    assert [v.id for v in (await read_model.page(10, None, "alice")).orders] == [mine.id]


async def test_the_projection_time_is_when_the_order_was_first_stored(
    read_model: ReadModel,
) -> None:
    applied = view()
    assert await read_model.projected(applied.id) is None
    before = datetime.now(UTC)
    await read_model.apply([applied])
    after = datetime.now(UTC)
    await read_model.apply([applied])  # a redelivery does not move it

    found = await read_model.projected(applied.id)

    assert found is not None
    stored, projected_at = found
    assert stored == applied
    assert projected_at is not None
    # BSON keeps milliseconds: the stored time may be up to 1 ms before `before`.
    assert before - timedelta(milliseconds=1) <= projected_at <= after


async def test_a_model_that_is_away_says_so(away_read_model: ReadModel) -> None:
    with pytest.raises(ReadModelUnavailable):
        await away_read_model.get(uuid4())
    with pytest.raises(ReadModelUnavailable):
        await away_read_model.page(10, None)
    with pytest.raises(ReadModelUnavailable):
        await away_read_model.apply([view()])
    with pytest.raises(ReadModelUnavailable):
        await away_read_model.stage([view()])
    with pytest.raises(ReadModelUnavailable):
        await away_read_model.reveal(Staged("batch"))
    with pytest.raises(ReadModelUnavailable):
        await away_read_model.projected(uuid4())


# -- ReadModelGenerations -------------------------------------------------------------------


AnyGenerations = FakeReadModelGenerations | MongoReadModelGenerations
STALE = timedelta(minutes=1)


class WallClock:
    """The wall clock of heartbeats, moved by the test (milliseconds, as BSON keeps)."""

    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at

    def advance(self, by: timedelta) -> None:
        self.at += by


@pytest.fixture
def wall_clock() -> WallClock:
    return WallClock()


@pytest.fixture(params=["fake", "mongodb"])
async def generations(
    request: pytest.FixtureRequest, unique_name: str, wall_clock: WallClock
) -> AsyncIterator[AnyGenerations]:
    if request.param == "fake":
        yield FakeReadModelGenerations(now=wall_clock)
        return
    mongodb_uri: str = request.getfixturevalue("mongodb_uri")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    # No pointer TTL: `current()` answers what the last change wrote, as the fake's does.
    yield MongoReadModelGenerations(client[unique_name], pointer_ttl_seconds=0, now=wall_clock)
    await client.close()


async def test_the_first_generation_is_live_until_a_rebuild(
    generations: ReadModelGenerations,
) -> None:
    assert await generations.current() == Generations("")


async def test_each_generation_is_a_model_of_its_own(generations: ReadModelGenerations) -> None:
    applied = view()
    await generations.model("g1").apply([applied])

    assert await generations.model("g1").get(applied.id) == applied
    assert await generations.model("").get(applied.id) is None
    assert (await generations.model("").page(10, None)).orders == []


async def test_a_generation_being_built_is_written_with_the_live_one(
    generations: AnyGenerations,
) -> None:
    assert await generations.begin("g1", stale_after=STALE) is None

    assert await generations.current() == Generations("", "g1")
    assert (await generations.current()).written == ("", "g1")
    assert await generations.read() == Pointer("", "g1", T0)


async def test_a_second_rebuild_is_refused_while_the_first_is_alive(
    generations: AnyGenerations, wall_clock: WallClock
) -> None:
    await generations.begin("g1", stale_after=STALE)
    wall_clock.advance(STALE - timedelta(seconds=1))
    await generations.beat("g1")
    wall_clock.advance(STALE)  # two minutes after it began, exactly one after its last beat

    with pytest.raises(PointerMoved, match="another rebuild"):
        await generations.begin("g2", stale_after=STALE)
    with pytest.raises(PointerMoved):
        await generations.switch("g2")
    assert await generations.current() == Generations("", "g1")


async def test_a_rebuild_whose_heartbeat_is_stale_is_taken_over(
    generations: AnyGenerations, wall_clock: WallClock
) -> None:
    await generations.begin("g1", stale_after=STALE)
    wall_clock.advance(STALE + timedelta(milliseconds=1))

    assert await generations.begin("g2", stale_after=STALE) == "g1"  # for the caller to drop

    assert await generations.current() == Generations("", "g2")
    assert await generations.read() == Pointer("", "g2", wall_clock.at)


async def test_a_rebuild_taken_over_can_neither_beat_nor_switch(
    generations: AnyGenerations, wall_clock: WallClock
) -> None:
    await generations.begin("g1", stale_after=STALE)
    wall_clock.advance(STALE + timedelta(milliseconds=1))
    await generations.begin("g2", stale_after=STALE)

    with pytest.raises(PointerMoved):
        await generations.beat("g1")
    with pytest.raises(PointerMoved):
        await generations.switch("g1")
    await generations.beat("g2")
    assert await generations.switch("g2") == ""


async def test_a_switch_makes_the_built_generation_live_and_returns_the_previous(
    generations: AnyGenerations,
) -> None:
    await generations.model("").apply([old := view()])
    await generations.begin("g1", stale_after=STALE)
    await generations.model("g1").apply([new := view()])
    assert await generations.model("").get(new.id) is None  # readers still see only the old

    assert await generations.switch("g1") == ""

    assert await generations.current() == Generations("g1")
    assert await generations.model("g1").get(new.id) == new
    assert await generations.model("g1").get(old.id) is None
    await generations.begin("g2", stale_after=STALE)  # the next rebuild is not refused
    assert await generations.switch("g2") == "g1"


async def test_only_the_generation_being_built_can_be_switched(
    generations: AnyGenerations,
) -> None:
    with pytest.raises(PointerMoved):
        await generations.switch("g1")  # nothing is being built
    await generations.begin("g1", stale_after=STALE)

    with pytest.raises(PointerMoved):
        await generations.switch("g2")

    assert await generations.current() == Generations("", "g1")


async def test_an_abandoned_generation_is_no_longer_built_and_is_empty(
    generations: AnyGenerations,
) -> None:
    await generations.model("").apply([kept := view()])
    await generations.begin("g1", stale_after=STALE)
    await generations.model("g1").apply([built := view()])

    await generations.abandon("g1")

    assert await generations.current() == Generations("")
    assert (await generations.read()).building is None
    assert await generations.model("g1").get(built.id) is None
    assert (await generations.model("g1").page(10, None)).orders == []
    assert await generations.count("g1") == 0
    assert await generations.model("").get(kept.id) == kept
    await generations.begin("g2", stale_after=STALE)  # the next rebuild is not refused


async def test_the_live_generation_is_never_dropped(generations: AnyGenerations) -> None:
    await generations.model("").apply([kept := view()])

    with pytest.raises(PointerMoved, match="live"):
        await generations.drop("")
    with pytest.raises(PointerMoved, match="live"):
        await generations.abandon("")

    assert await generations.model("").get(kept.id) == kept


async def test_dropping_a_generation_removes_its_orders(generations: AnyGenerations) -> None:
    await generations.model("").apply([old := view(), view()])
    await generations.begin("g1", stale_after=STALE)
    await generations.model("g1").apply([view()])
    assert await generations.count("") == 2
    assert await generations.count("g1") == 1
    await generations.switch("g1")

    await generations.drop("")

    assert await generations.count("") == 0
    assert await generations.model("").get(old.id) is None
    assert (await generations.model("").page(10, None)).orders == []
    assert await generations.count("g1") == 1


# -- ViewCache ------------------------------------------------------------------------------


@dataclass
class CacheUnderTest:
    """A cache and the switch that takes its server away and brings it back."""

    cache: ViewCache
    away: Callable[[], None]
    back: Callable[[], None]


@pytest.fixture(scope="module")
def redis_path(redis_server: RedisServer) -> Iterator[FaultProxy]:
    with FaultProxy(redis_server.host, redis_server.port) as proxy:
        yield proxy


@pytest.fixture(params=["fake", "redis"])
async def subject(
    request: pytest.FixtureRequest, unique_name: str
) -> AsyncIterator[CacheUnderTest]:
    if request.param == "fake":
        fake = FakeViewCache()

        def set_available(value: bool) -> Callable[[], None]:
            return lambda: setattr(fake, "available", value)

        yield CacheUnderTest(fake, set_available(False), set_available(True))
        return
    proxy: FaultProxy = request.getfixturevalue("redis_path")
    redis = Redis.from_url(
        f"redis://{proxy.address}/0", socket_timeout=0.3, socket_connect_timeout=0.3
    )
    cache = RedisViewCache(
        redis,
        order_ttl_seconds=60,
        list_ttl_seconds=60,
        retry_after_seconds=0,  # try Redis again at once: the test says when it is back
        key_prefix=f"{unique_name}:",
    )
    yield CacheUnderTest(cache, proxy.blackhole, proxy.heal)
    proxy.heal()
    await redis.aclose()


async def test_an_order_is_a_miss_until_put(subject: CacheUnderTest) -> None:
    cache, cached = subject.cache, view(name="Zoë 李")
    assert await cache.get_order(cached.id) is None

    await cache.put_order(cached)

    assert await cache.get_order(cached.id) == cached
    alices = OrderView(uuid4(), "A", Decimal("1.00"), T0, uuid4(), "alice")
    await cache.put_order(alices)
    assert await cache.get_order(alices.id) == alices  # with its customer


async def test_a_page_is_found_under_its_generation_limit_and_position_only(
    subject: CacheUnderTest,
) -> None:
    cache = subject.cache
    first, second = view(T0 + timedelta(seconds=1)), view(T0)
    page = Page([first, second], second.position)
    generation = await cache.list_generation()
    assert generation is not None

    await cache.put_page(generation, 2, None, page)

    assert await cache.get_page(generation, 2, None) == page
    assert await cache.get_page(generation, 3, None) is None
    assert await cache.get_page(generation, 2, first.position) is None
    assert await cache.get_page(generation + 1, 2, None) is None
    last = Page([second], None)
    await cache.put_page(generation, 1, first.position, last)
    assert await cache.get_page(generation, 1, first.position) == last


async def test_each_owner_has_pages_of_their_own(subject: CacheUnderTest) -> None:
    cache = subject.cache
    alices = Page([OrderView(uuid4(), "A", Decimal("1.00"), T0, uuid4(), "alice")], None)
    generation = await cache.list_generation()
    assert generation is not None

    await cache.put_page(generation, 2, None, alices, "alice")

    assert await cache.get_page(generation, 2, None, "alice") == alices
    assert await cache.get_page(generation, 2, None, "bob") is None
    assert await cache.get_page(generation, 2, None) is None  # not the whole list's either
    assert await cache.get_page(generation, 2, None, "alice:") is None


async def test_each_status_has_pages_of_its_own(subject: CacheUnderTest) -> None:
    cache = subject.cache
    cancelled = Page([replace(view(), status="cancelled", version=2)], None)
    generation = await cache.list_generation()
    assert generation is not None

    await cache.put_page(generation, 2, None, cancelled, None, "cancelled")
    await cache.put_page(generation, 2, None, cancelled, "alice", "cancelled")

    assert await cache.get_page(generation, 2, None, None, "cancelled") == cancelled
    assert await cache.get_page(generation, 2, None, "alice", "cancelled") == cancelled
    assert await cache.get_page(generation, 2, None) is None
    assert await cache.get_page(generation, 2, None, None, "shipped") is None
    assert await cache.get_page(generation, 2, None, "alice") is None


async def test_invalidating_lists_moves_to_a_new_generation(subject: CacheUnderTest) -> None:
    cache = subject.cache
    before = await cache.list_generation()
    assert before is not None
    await cache.put_page(before, 1, None, Page([view()], None))

    await cache.invalidate_lists()

    after = await cache.list_generation()
    assert after is not None
    assert after != before
    assert await cache.get_page(after, 1, None) is None


async def test_a_cache_that_is_away_misses_and_never_raises(subject: CacheUnderTest) -> None:
    cache, cached = subject.cache, view()
    generation = await cache.list_generation()
    assert generation is not None
    subject.away()

    assert await cache.get_order(cached.id) is None
    assert await cache.list_generation() is None
    assert await cache.get_page(generation, 1, None) is None
    await cache.put_order(cached)
    await cache.put_page(generation, 1, None, Page([cached], None))

    subject.back()
    assert await cache.get_page(generation, 1, None) is None  # no page put while away was kept
    assert await cache.get_order(cached.id) is None  # nor an order that may still change
    # A shipped or cancelled order never changes again: one put while away is answered (from
    # the process), as is one put before Redis went away, while it is away.
    final = replace(view(), status="cancelled", version=2)
    subject.away()
    await cache.put_order(final)
    subject.back()
    assert await cache.get_order(final.id) == final
    earlier, placed = replace(view(), status="shipped", version=3), view()
    await cache.put_order(earlier)
    await cache.put_order(placed)
    subject.away()
    assert await cache.get_order(earlier.id) == earlier
    assert await cache.get_order(placed.id) is None
    subject.back()


async def test_orders_added_are_found_and_never_cover_what_is_kept(
    subject: CacheUnderTest,
) -> None:
    cache, placed, other = subject.cache, view(name="Zoë 李"), view()
    confirmed = replace(placed, status="confirmed", version=2, updated_at=T0)
    await cache.replace_order(confirmed)  # kept before the late addition

    await cache.add_orders([placed, other])
    await cache.add_orders([])

    assert await cache.get_order(placed.id) == confirmed
    assert await cache.get_order(other.id) == other
    subject.away()
    await cache.add_orders([view()])  # best effort: no error (the order may land late)
    assert await cache.get_order(other.id) is None  # a miss while away
    subject.back()


async def test_an_order_is_never_replaced_by_an_older_version(subject: CacheUnderTest) -> None:
    # A reader that loaded version 1 before the projection put version 2 puts it back late.
    cache, placed = subject.cache, view()
    confirmed = replace(placed, status="confirmed", version=2, updated_at=T0)
    await cache.replace_order(confirmed)

    await cache.put_order(placed)

    assert await cache.get_order(placed.id) == confirmed
    shipped = replace(confirmed, status="shipped", version=3, tracking_number="TN | 1")
    await cache.put_order(shipped)
    assert await cache.get_order(placed.id) == shipped


async def test_a_change_the_cache_cannot_take_raises(subject: CacheUnderTest) -> None:
    cache, placed = subject.cache, view()
    await cache.put_order(placed)
    subject.away()

    confirmed = replace(placed, status="confirmed", version=2)
    with pytest.raises(CacheUnavailable):
        await cache.replace_order(confirmed)

    subject.back()  # the change may have landed late, or not: the projection tries again
    await cache.replace_order(confirmed)
    assert await cache.get_order(placed.id) == confirmed


async def test_an_invalidation_while_away_is_not_lost(subject: CacheUnderTest) -> None:
    # Guarantee 4: a projection while Redis is away must still retire the lists cached before.
    cache = subject.cache
    before = await cache.list_generation()
    assert before is not None
    await cache.put_page(before, 1, None, Page([view()], None))
    subject.away()

    await cache.invalidate_lists()

    subject.back()
    after = await cache.list_generation()
    assert after is not None
    assert after != before


async def test_each_read_model_generation_has_its_own_keys(subject: CacheUnderTest) -> None:
    # After a rebuilt model goes live, nothing cached from the previous one may be found.
    old, new = subject.cache.scoped("g1"), subject.cache.scoped("g2")
    cached, page = view(), Page([view()], None)
    generation = await old.list_generation()
    assert generation is not None
    await old.put_order(cached)
    await old.put_page(generation, 1, None, page)

    assert await new.get_order(cached.id) is None
    assert await new.get_page(generation, 1, None) is None
    assert await subject.cache.get_order(cached.id) is None  # the first generation's keys
    assert await old.get_order(cached.id) == cached
    assert await old.get_page(generation, 1, None) == page


async def test_the_scopes_share_the_list_generation_and_the_outage(
    subject: CacheUnderTest,
) -> None:
    root, scoped = subject.cache, subject.cache.scoped("g1")
    before = await scoped.list_generation()

    await root.invalidate_lists()

    assert await scoped.list_generation() != before
    subject.away()
    assert await scoped.list_generation() is None
    subject.back()
