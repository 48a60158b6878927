import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from order_platform.read_service.application.ports import (
    CacheUnavailable,
    Generations,
    Page,
    ParkedChange,
)
from order_platform.read_service.application.projection import ProjectOrders
from order_platform.read_service.application.queries import GetOrder, ListOrders
from order_platform.read_service.domain import ListPosition, OrderChange, OrderView
from tests.unit.read_service.fakes import (
    FakeReadModel,
    FakeReadModelGenerations,
    FakeViewCache,
)

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def view(seconds: int = 0, name: str = "Lucas") -> OrderView:
    return OrderView(uuid4(), name, Decimal("199.90"), T0 + timedelta(seconds=seconds), uuid4())


async def test_projection_is_idempotent_and_invalidates_lists() -> None:
    model, cache = FakeReadModel(), FakeViewCache()
    project = ProjectOrders(FakeReadModelGenerations(model), cache)
    first = view()
    await project([first])
    await project([first, OrderView(first.id, "Other", Decimal(1), T0, uuid4())])

    assert model.orders == {first.id: first}
    assert cache.generation == 2


async def test_guarantee_4_an_order_is_readable_by_id_only_once_listed_and_lists_invalidated() -> (
    None
):
    model, order = FakeReadModel(), view()
    generations = FakeReadModelGenerations(model)
    at_invalidation: list[tuple[OrderView | None, list[OrderView]]] = []

    class WatchedCache(FakeViewCache):
        async def invalidate_lists(self) -> None:
            at_invalidation.append(
                (await model.get(order.id), [*(await model.page(50, None)).orders])
            )
            await super().invalidate_lists()

    cache = WatchedCache()
    list_orders = ListOrders(generations, cache)
    assert (await list_orders(50, None)).orders == []  # cached before the projection

    await ProjectOrders(generations, cache)([order])

    assert at_invalidation == [(None, [order])]  # listed, not readable by id yet
    assert await GetOrder(generations, cache)(order.id) == order
    assert (await list_orders(50, None)).orders == [order]


async def test_a_staged_order_is_not_found_nor_cached_by_id() -> None:
    model, cache, order = FakeReadModel(), FakeViewCache(), view()
    get = GetOrder(FakeReadModelGenerations(model), cache)
    staged = await model.stage([order])

    assert await get(order.id) is None
    assert cache.orders == {}
    await model.reveal(staged)
    assert await get(order.id) == order


async def test_get_order_is_served_from_the_cache_once_loaded() -> None:
    model, cache = FakeReadModel(), FakeViewCache()
    await model.apply([order := view()])
    get = GetOrder(FakeReadModelGenerations(model), cache)

    assert await get(order.id) == order
    assert await get(order.id) == order
    assert model.reads == 1


async def test_an_unknown_order_is_not_cached() -> None:
    model, cache = FakeReadModel(), FakeViewCache()
    get = GetOrder(FakeReadModelGenerations(model), cache)
    order = view()

    assert await get(order.id) is None
    await model.apply([order])
    assert await get(order.id) == order


async def test_a_cached_list_is_invalidated_by_a_projection() -> None:
    model, cache = FakeReadModel(), FakeViewCache()
    project, list_orders = (
        ProjectOrders(FakeReadModelGenerations(model), cache),
        ListOrders(FakeReadModelGenerations(model), cache),
    )
    await project([view(1)])
    assert len((await list_orders(50, None)).orders) == 1
    assert len((await list_orders(50, None)).orders) == 1
    assert model.reads == 1

    await project([view(2)])
    assert len((await list_orders(50, None)).orders) == 2


class SlowReadModel(FakeReadModel):
    """Holds `page` until released: a reader that loaded the database just before a projection."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded = asyncio.Event()
        self.release = asyncio.Event()
        self.slow = True

    async def page(
        self,
        limit: int,
        after: ListPosition | None,
        owner: str | None = None,
        status: str | None = None,
    ) -> Page:
        result = await super().page(limit, after, owner, status)
        if self.slow:
            self.slow = False
            self.loaded.set()
            await self.release.wait()
        return result


async def test_guarantee_4_a_slow_reader_cannot_store_a_stale_list_where_others_look() -> None:
    model, cache = SlowReadModel(), FakeViewCache()
    project, list_orders = (
        ProjectOrders(FakeReadModelGenerations(model), cache),
        ListOrders(FakeReadModelGenerations(model), cache),
    )
    await project([view(1)])

    slow_reader = asyncio.create_task(list_orders(50, None))
    await model.loaded.wait()  # it has read one order from the database
    await project([view(2)])  # a projection lands and invalidates
    model.release.set()
    assert len((await slow_reader).orders) == 1  # its own answer was correct when it read

    assert len((await list_orders(50, None)).orders) == 2  # and nobody else sees it later


async def test_queries_work_without_the_cache() -> None:
    model, cache = FakeReadModel(), FakeViewCache()
    cache.available = False
    await ProjectOrders(FakeReadModelGenerations(model), cache)([order := view()])

    assert await GetOrder(FakeReadModelGenerations(model), cache)(order.id) == order
    assert (await ListOrders(FakeReadModelGenerations(model), cache)(50, None)).orders == [order]


async def test_pages_walk_newest_first_and_end() -> None:
    model, cache = FakeReadModel(), FakeViewCache()
    views: Sequence[OrderView] = [view(seconds) for seconds in range(5)]
    await model.apply(views)
    list_orders = ListOrders(FakeReadModelGenerations(model), cache)

    first = await list_orders(2, None)
    second = await list_orders(2, first.next_after)
    third = await list_orders(2, second.next_after)

    walked = [*first.orders, *second.orders, *third.orders]
    assert walked == sorted(views, key=lambda v: v.created_at, reverse=True)
    assert third.next_after is None


async def test_during_a_rebuild_projections_write_both_generations() -> None:
    generations, cache = FakeReadModelGenerations(), FakeViewCache()
    generations.pointer = Generations("", building="g1")

    await ProjectOrders(generations, cache)([order := view()])

    assert await generations.model("").get(order.id) == order
    assert await generations.model("g1").get(order.id) == order


async def test_after_a_switch_nothing_cached_from_the_old_generation_is_served() -> None:
    generations, cache = FakeReadModelGenerations(), FakeViewCache()
    get, list_orders = GetOrder(generations, cache), ListOrders(generations, cache)
    # The old model was wrong (a bug stored this name); the rebuilt one has it right.
    order = view(name="Wrong")
    fixed = OrderView(order.id, "Right", order.total_amount, order.created_at, order.event_id)
    await generations.model("").apply([order])
    assert (await get(order.id)).customer_name == "Wrong"  # type: ignore[union-attr]
    assert (await list_orders(50, None)).orders == [order]  # both now cached
    await generations.model("g1").apply([fixed])

    generations.pointer = Generations("g1")

    assert await get(order.id) == fixed
    assert (await list_orders(50, None)).orders == [fixed]


def change(order: OrderView, version: int, status: str = "confirmed") -> OrderChange:
    return OrderChange(uuid4(), order.id, version, status, T0 + timedelta(minutes=version))


async def test_a_change_is_listed_then_cached_then_readable_by_id_and_never_served_older() -> None:
    model, order = FakeReadModel(), view()
    generations = FakeReadModelGenerations(model)
    steps: list[str] = []

    async def by_id() -> str | None:
        found = await model.get(order.id)
        return None if found is None else found.status

    class WatchedCache(FakeViewCache):
        async def invalidate_lists(self) -> None:
            listed = (await model.page(50, None)).orders[0].status
            steps.append(f"invalidate: listed {listed}, by id {await by_id()}")
            await super().invalidate_lists()

        async def replace_order(self, view: OrderView) -> None:
            steps.append(f"cache {view.status}, by id {await by_id()}")
            await super().replace_order(view)

        def scoped(self, generation: str) -> FakeViewCache:
            return self  # one generation here: watch the scope the projection writes to

    cache = WatchedCache()
    get_order, list_orders = GetOrder(generations, cache), ListOrders(generations, cache)
    project = ProjectOrders(generations, cache)
    await project([order])
    assert await get_order(order.id) == order  # cached as placed
    assert (await list_orders(50, None)).orders == [order]  # and its page
    steps.clear()

    await project([], [change(order, 2)])

    assert steps == [
        "invalidate: listed confirmed, by id placed",
        "cache confirmed, by id placed",
    ]
    confirmed = change(order, 2).applied_to(order)
    assert (await get_order(order.id) or order).status == "confirmed"
    assert [v.status for v in (await list_orders(50, None)).orders] == ["confirmed"]
    assert (await model.get(order.id) or order).version == confirmed.version


async def test_a_change_waits_for_the_cache_rather_than_leave_it_older() -> None:
    model, order = FakeReadModel(), view()
    generations, cache = FakeReadModelGenerations(model), FakeViewCache()
    project = ProjectOrders(generations, cache)
    await project([order])
    await GetOrder(generations, cache)(order.id)  # cached as placed
    cache.available = False
    confirm = change(order, 2)

    with pytest.raises(CacheUnavailable):
        await project([], [confirm])
    assert await model.get(order.id) == order  # not readable by id as changed

    cache.available = True
    await project([], [confirm])  # the consumer's retry of the batch
    assert (await GetOrder(generations, cache)(order.id) or order).status == "confirmed"
    assert (await model.get(order.id) or order).status == "confirmed"


async def test_a_projected_orders_first_read_is_a_cache_hit() -> None:
    model, cache = FakeReadModel(), FakeViewCache()
    generations = FakeReadModelGenerations(model)

    await ProjectOrders(generations, cache)([order := view()])

    assert await GetOrder(generations, cache)(order.id) == order
    assert model.reads == 0


async def test_a_redelivered_creation_never_puts_a_changed_order_back_as_placed() -> None:
    model = FakeReadModel()
    generations = FakeReadModelGenerations(model)
    await ProjectOrders(generations, FakeViewCache())([order := view()], [change(order, 2)])
    cache = FakeViewCache()  # what was cached has expired

    await ProjectOrders(generations, cache)([order])  # the creation delivered again

    assert cache.orders == {}
    assert (await GetOrder(generations, cache)(order.id) or order).status == "confirmed"


async def test_during_a_rebuild_only_the_live_generations_new_orders_are_cached() -> None:
    generations, cache = FakeReadModelGenerations(), FakeViewCache()
    generations.pointer = Generations("", building="g1")

    await ProjectOrders(generations, cache)([order := view()])

    assert cache.scoped("").orders == {order.id: order}
    assert cache.scoped("g1").orders == {}


async def test_a_parked_change_found_applied_already_leaves_the_park() -> None:
    # Left parked by a stop between a reveal and its unparking; the creation's redelivery
    # releases it once more, finds it applied, and takes it off the park.
    model = FakeReadModel()
    generations = FakeReadModelGenerations(model)
    project = ProjectOrders(generations, FakeViewCache())
    order = view()
    await project([], [confirm := change(order, 2)])  # before its creation: parked
    await project([order])  # released: staged and revealed
    assert (await model.get(order.id) or order).version == 2
    model.parked_changes[confirm.event_id] = ParkedChange(confirm, 1)  # never unparked

    await project([order])  # the creation delivered again

    assert await model.parked() == []
    assert (await model.get(order.id) or order).version == 2
