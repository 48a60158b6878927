"""The `ChangeOrder` use case on fakes: confirm, ship and cancel a stored order; who may;
If-Match; races; and the Idempotency-Key protocol (replay, reuse, in flight, a dead first
attempt completed under its reserved event id)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

import pytest

from order_platform.order_service.application.change_order import (
    ChangeOrder,
    ChangeOrderHandler,
    VersionCondition,
    VersionMismatch,
)
from order_platform.order_service.application.idempotency import (
    IdempotencyKeyReused,
    RequestInFlight,
)
from order_platform.order_service.application.order_access import OrderNotFound, Requester
from order_platform.order_service.application.ports import (
    OrderChangedMeanwhile,
    StorageUnavailable,
    WriteOutcomeUnknown,
)
from order_platform.order_service.domain import (
    Command,
    InvalidOrderField,
    Order,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderShipped,
    OrderStatus,
    TransitionNotAllowed,
)
from tests.unit.order_service.fakes import (
    FakeClock,
    FakeIdempotencyKeys,
    FakeStore,
    FakeUnitOfWork,
)

ALICE = Requester("alice")
BOB = Requester("bob")
ADMIN = Requester("operator", acts_on_every_order=True)
AUTH_OFF = Requester(None, acts_on_every_order=True)
UNKNOWN = UUID("00000000-0000-0000-0000-00000000dead")


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def keys(store: FakeStore) -> FakeIdempotencyKeys:
    return FakeIdempotencyKeys(store)


@pytest.fixture
def handler(store: FakeStore, keys: FakeIdempotencyKeys, clock: FakeClock) -> ChangeOrderHandler:
    event_ids = (UUID(int=n) for n in itertools.count(1000))  # never an order's id
    return ChangeOrderHandler(
        new_unit_of_work=lambda: FakeUnitOfWork(store),
        idempotency_keys=keys,
        clock=clock,
        new_id=lambda: next(event_ids),
    )


async def placed(store: FakeStore, customer_id: str | None = "alice") -> UUID:
    """An order stored as `POST /orders` stores one, with its `OrderCreated`."""
    number = len(store.orders) + 1
    order = Order.create(
        order_id=UUID(int=number),
        event_id=UUID(int=500 + number),
        customer_name="Lucas",
        total_amount=Decimal("199.90"),
        now=FakeClock().now(),
        customer_id=customer_id,
    )
    async with FakeUnitOfWork(store) as uow:
        uow.orders.add(order)
        await uow.commit()
    return order.id


def transitions(store: FakeStore) -> list[object]:
    return [event for event in store.outbox if not isinstance(event, OrderCreated)]


def confirm(order_id: UUID, requester: Requester = ADMIN, **options: object) -> ChangeOrder:
    return ChangeOrder(order_id, Command.CONFIRM, requester, **options)


def cancel(order_id: UUID, requester: Requester = ALICE, **options: object) -> ChangeOrder:
    return ChangeOrder(order_id, Command.CANCEL, requester, **options)


# --- the change itself -------------------------------------------------------------------


async def test_confirm_stores_the_transition_with_its_event(
    handler: ChangeOrderHandler, store: FakeStore, clock: FakeClock
) -> None:
    order_id = await placed(store)
    clock.advance(timedelta(minutes=5))

    changed = await handler(confirm(order_id))

    assert not changed.replayed
    assert (changed.order.status, changed.order.version) == (OrderStatus.CONFIRMED, 2)
    assert changed.order.updated_at == clock.now()
    stored = store.orders[order_id]
    assert (stored.status, stored.version, stored.updated_at) == ("confirmed", 2, clock.now())
    (event,) = transitions(store)
    assert isinstance(event, OrderConfirmed)
    assert (event.order_id, event.order_version, event.customer_id) == (order_id, 2, "alice")


async def test_ship_and_cancel_keep_their_text_trimmed(
    handler: ChangeOrderHandler, store: FakeStore
) -> None:
    shipped_id, cancelled_id = await placed(store), await placed(store)
    await handler(confirm(shipped_id))

    shipped = await handler(
        ChangeOrder(shipped_id, Command.SHIP, ADMIN, tracking_number="  1Z999  ")
    )
    cancelled = await handler(cancel(cancelled_id, reason=" Ordered twice "))

    assert (shipped.order.status, shipped.order.version) == ("shipped", 3)
    assert store.orders[shipped_id].tracking_number == "1Z999"
    assert cancelled.order.cancellation_reason == "Ordered twice"
    assert store.orders[cancelled_id].cancellation_reason == "Ordered twice"
    kinds = [(type(e).__name__, e.order_version) for e in transitions(store)]
    assert kinds == [("OrderConfirmed", 2), ("OrderShipped", 3), ("OrderCancelled", 2)]
    assert [e.tracking_number for e in transitions(store) if isinstance(e, OrderShipped)] == [
        "1Z999"
    ]
    assert [e.reason for e in transitions(store) if isinstance(e, OrderCancelled)] == [
        "Ordered twice"
    ]


async def test_a_command_the_status_does_not_allow_is_refused_and_changes_nothing(
    handler: ChangeOrderHandler, store: FakeStore
) -> None:
    order_id = await placed(store)
    await handler(cancel(order_id))

    with pytest.raises(TransitionNotAllowed) as refused:
        await handler(confirm(order_id))

    assert (refused.value.status, refused.value.allowed) == ("cancelled", ())
    assert (store.orders[order_id].status, store.orders[order_id].version) == ("cancelled", 2)
    assert len(transitions(store)) == 1


@pytest.mark.parametrize("reason", ["   ", "a\nb", "x" * 501])
async def test_invalid_text_is_refused_before_anything_is_read_or_claimed(
    handler: ChangeOrderHandler, store: FakeStore, keys: FakeIdempotencyKeys, reason: str
) -> None:
    order_id = await placed(store)
    store.available = False  # nothing may be asked of the store

    with pytest.raises(InvalidOrderField) as refused:
        await handler(cancel(order_id, reason=reason, idempotency_key="k"))

    assert refused.value.field == "reason"
    assert keys.claims == {}


def test_only_ship_takes_a_tracking_number_and_only_cancel_a_reason() -> None:
    with pytest.raises(ValueError, match="tracking number"):
        ChangeOrder(UNKNOWN, Command.CANCEL, ADMIN, tracking_number="1Z")
    with pytest.raises(ValueError, match="reason"):
        ChangeOrder(UNKNOWN, Command.CONFIRM, ADMIN, reason="why")


# --- who may -----------------------------------------------------------------------------


async def test_an_unknown_order_is_not_found(handler: ChangeOrderHandler) -> None:
    with pytest.raises(OrderNotFound):
        await handler(confirm(UNKNOWN))


async def test_another_customers_order_is_not_found_and_stays_unchanged(
    handler: ChangeOrderHandler, store: FakeStore, keys: FakeIdempotencyKeys
) -> None:
    order_id = await placed(store, customer_id="alice")

    with pytest.raises(OrderNotFound):
        await handler(cancel(order_id, BOB, idempotency_key="k"))

    assert (store.orders[order_id].status, store.orders[order_id].version) == ("placed", 1)
    assert transitions(store) == []
    assert keys.claims == {}  # given back: nothing was done under it


async def test_an_order_placed_with_auth_off_is_nobodys_but_an_admins(
    handler: ChangeOrderHandler, store: FakeStore
) -> None:
    order_id = await placed(store, customer_id=None)

    with pytest.raises(OrderNotFound):
        await handler(cancel(order_id, ALICE))
    assert (await handler(cancel(order_id, ADMIN))).order.status == "cancelled"


@pytest.mark.parametrize("requester", [ALICE, ADMIN, AUTH_OFF])
async def test_the_owner_an_admin_and_anyone_while_auth_is_off_may_cancel(
    handler: ChangeOrderHandler, store: FakeStore, requester: Requester
) -> None:
    order_id = await placed(store, customer_id="alice")

    assert (await handler(cancel(order_id, requester))).order.status == "cancelled"


# --- If-Match ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "condition",
    [
        VersionCondition(frozenset({1})),
        VersionCondition(frozenset({1, 7})),
        VersionCondition(any_version=True),
    ],
)
async def test_a_condition_that_holds_lets_the_change_through(
    handler: ChangeOrderHandler, store: FakeStore, condition: VersionCondition
) -> None:
    order_id = await placed(store)

    assert (await handler(confirm(order_id, if_match=condition))).order.version == 2


@pytest.mark.parametrize(
    "condition",
    [VersionCondition(frozenset({2})), VersionCondition()],  # empty: e.g. only W/"1" was sent
)
async def test_a_condition_that_fails_is_a_version_mismatch_naming_the_current_version(
    handler: ChangeOrderHandler,
    store: FakeStore,
    keys: FakeIdempotencyKeys,
    condition: VersionCondition,
) -> None:
    order_id = await placed(store)

    with pytest.raises(VersionMismatch) as refused:
        await handler(confirm(order_id, if_match=condition, idempotency_key="k"))

    assert refused.value.current_version == 1
    assert store.orders[order_id].version == 1
    assert keys.claims == {}


async def test_another_customers_order_is_not_found_whatever_the_condition(
    handler: ChangeOrderHandler, store: FakeStore
) -> None:
    order_id = await placed(store, customer_id="alice")

    with pytest.raises(OrderNotFound):  # a 412 would tell that the order exists
        await handler(cancel(order_id, BOB, if_match=VersionCondition(frozenset({9}))))


# --- races -------------------------------------------------------------------------------


async def race(
    handler: ChangeOrderHandler, store: FakeStore, first: ChangeOrder, second: ChangeOrder
) -> list[object]:
    """Both read the order before either commits; then both commit."""
    store.commit_gate = asyncio.Event()
    tasks = []
    for change in (first, second):
        store.commit_waiting.clear()
        tasks.append(asyncio.create_task(handler(change)))
        await store.commit_waiting.wait()
    store.commit_gate.set()
    return await asyncio.gather(*tasks, return_exceptions=True)


async def test_of_two_racing_commands_exactly_one_wins_the_other_changed_meanwhile(
    handler: ChangeOrderHandler, store: FakeStore
) -> None:
    order_id = await placed(store)

    outcomes = await race(handler, store, confirm(order_id), cancel(order_id))

    winners = [o for o in outcomes if not isinstance(o, Exception)]
    losers = [o for o in outcomes if isinstance(o, Exception)]
    assert len(winners) == 1
    assert [type(loser) for loser in losers] == [OrderChangedMeanwhile]
    assert losers[0].current_version == 2
    assert store.orders[order_id].version == 2
    assert len(transitions(store)) == 1


async def test_a_racing_loser_with_if_match_gets_a_version_mismatch(
    handler: ChangeOrderHandler, store: FakeStore
) -> None:
    order_id = await placed(store)
    at_1 = VersionCondition(frozenset({1}))

    outcomes = await race(
        handler, store, confirm(order_id, if_match=at_1), cancel(order_id, if_match=at_1)
    )

    (loser,) = [o for o in outcomes if isinstance(o, Exception)]
    assert isinstance(loser, VersionMismatch)
    assert loser.current_version == 2
    assert len(transitions(store)) == 1


class VersionlessConflicts(FakeUnitOfWork):
    """As the MongoDB adapter may answer a lost race: without the winner's version."""

    async def commit(self) -> None:
        try:
            await super().commit()
        except OrderChangedMeanwhile as lost:
            raise OrderChangedMeanwhile(lost.order_id, None) from None


async def test_a_racing_loser_with_if_match_reads_the_version_the_store_did_not_say(
    store: FakeStore, keys: FakeIdempotencyKeys, clock: FakeClock
) -> None:
    handler = ChangeOrderHandler(
        new_unit_of_work=lambda: VersionlessConflicts(store),
        idempotency_keys=keys,
        clock=clock,
        new_id=lambda: UUID(int=1000 + len(store.outbox)),
    )
    order_id = await placed(store)
    at_1 = VersionCondition(frozenset({1}))

    outcomes = await race(
        handler, store, confirm(order_id, if_match=at_1), cancel(order_id, if_match=at_1)
    )

    (loser,) = [o for o in outcomes if isinstance(o, Exception)]
    assert isinstance(loser, VersionMismatch)
    assert loser.current_version == 2


async def test_a_racing_loser_whose_condition_still_holds_changed_meanwhile(
    handler: ChangeOrderHandler, store: FakeStore
) -> None:
    order_id = await placed(store)
    anything = VersionCondition(any_version=True)

    outcomes = await race(
        handler, store, confirm(order_id, if_match=anything), cancel(order_id, if_match=anything)
    )

    assert [type(o) for o in outcomes if isinstance(o, Exception)] == [OrderChangedMeanwhile]


async def test_a_racing_loser_gives_its_key_back(
    handler: ChangeOrderHandler, store: FakeStore, keys: FakeIdempotencyKeys
) -> None:
    order_id = await placed(store)

    outcomes = await race(
        handler,
        store,
        confirm(order_id, idempotency_key="admin-1"),
        cancel(order_id, idempotency_key="alice-1"),
    )

    assert isinstance(outcomes[1], OrderChangedMeanwhile)
    assert list(keys.claims) == ["admin-1 operator"]


# --- Idempotency-Key ---------------------------------------------------------------------


async def test_a_retry_with_the_same_key_replays_the_order_as_it_is_now(
    handler: ChangeOrderHandler, store: FakeStore
) -> None:
    order_id = await placed(store)
    first = await handler(cancel(order_id, reason="Twice", idempotency_key="k"))

    again = await handler(cancel(order_id, reason=" Twice ", idempotency_key="k"))

    assert again.replayed
    assert (again.order.status, again.order.version) == ("cancelled", 2)
    assert again.order.cancellation_reason == first.order.cancellation_reason
    assert len(transitions(store)) == 1


async def test_a_replay_ignores_if_match_it_answers_what_was_done(
    handler: ChangeOrderHandler, store: FakeStore
) -> None:
    order_id = await placed(store)
    at_1 = VersionCondition(frozenset({1}))
    await handler(confirm(order_id, if_match=at_1, idempotency_key="k"))

    again = await handler(confirm(order_id, if_match=at_1, idempotency_key="k"))

    assert again.replayed
    assert again.order.version == 2


async def test_a_replay_shows_later_changes_too(
    handler: ChangeOrderHandler, store: FakeStore
) -> None:
    order_id = await placed(store)
    await handler(confirm(order_id, idempotency_key="k"))
    await handler(ChangeOrder(order_id, Command.SHIP, ADMIN))

    again = await handler(confirm(order_id, idempotency_key="k"))

    assert again.replayed
    assert (again.order.status, again.order.version) == ("shipped", 3)


@pytest.mark.parametrize(
    "other",
    [
        lambda order_id, other_id: cancel(order_id, ADMIN, idempotency_key="k"),
        lambda order_id, other_id: confirm(other_id, idempotency_key="k"),
        lambda order_id, other_id: ChangeOrder(
            order_id, Command.SHIP, ADMIN, tracking_number="1Z", idempotency_key="k"
        ),
    ],
    ids=["another command", "another order", "another field"],
)
async def test_the_same_key_for_another_change_is_refused(
    handler: ChangeOrderHandler, store: FakeStore, other: object
) -> None:
    order_id, other_id = await placed(store), await placed(store)
    await handler(confirm(order_id, idempotency_key="k"))

    with pytest.raises(IdempotencyKeyReused):
        await handler(other(order_id, other_id))
    assert len(transitions(store)) == 1


async def test_a_retry_with_another_reason_is_refused(
    handler: ChangeOrderHandler, store: FakeStore
) -> None:
    order_id = await placed(store)
    await handler(cancel(order_id, idempotency_key="k"))

    with pytest.raises(IdempotencyKeyReused):
        await handler(cancel(order_id, reason="Changed my mind", idempotency_key="k"))


async def test_keys_are_per_caller(handler: ChangeOrderHandler, store: FakeStore) -> None:
    alices, others = await placed(store, "alice"), await placed(store, "bob")
    await handler(cancel(alices, ALICE, idempotency_key="same"))

    changed = await handler(cancel(others, Requester("bob"), idempotency_key="same"))

    assert not changed.replayed
    assert store.orders[others].status == "cancelled"


async def test_a_key_still_in_flight_is_refused_and_the_first_attempt_finishes(
    handler: ChangeOrderHandler, store: FakeStore
) -> None:
    order_id = await placed(store)
    store.commit_gate = asyncio.Event()
    first = asyncio.create_task(handler(confirm(order_id, idempotency_key="k")))
    await store.commit_waiting.wait()

    with pytest.raises(RequestInFlight):
        await handler(confirm(order_id, idempotency_key="k"))
    store.commit_gate.set()

    assert (await first).order.version == 2
    assert len(transitions(store)) == 1


async def test_a_dead_first_attempt_is_completed_under_its_reserved_event_id(
    handler: ChangeOrderHandler,
    store: FakeStore,
    keys: FakeIdempotencyKeys,
    clock: FakeClock,
) -> None:
    order_id = await placed(store)
    store.commit_gate = asyncio.Event()
    dead = asyncio.create_task(handler(confirm(order_id, idempotency_key="k")))
    await store.commit_waiting.wait()
    dead.cancel()  # the process died between claiming the key and storing the change
    with pytest.raises(asyncio.CancelledError):
        await dead
    store.commit_gate = None
    clock.advance(timedelta(seconds=11))

    retried = await handler(confirm(order_id, idempotency_key="k"))

    assert not retried.replayed
    (event,) = transitions(store)
    assert event.event_id == keys.claims["k operator"].order_id
    assert retried.order.version == 2


async def test_a_first_attempt_landing_late_turns_the_retry_into_a_replay(
    handler: ChangeOrderHandler,
    store: FakeStore,
    keys: FakeIdempotencyKeys,
    clock: FakeClock,
) -> None:
    order_id = await placed(store)
    store.commit_gate = asyncio.Event()
    slow = asyncio.create_task(handler(confirm(order_id, idempotency_key="k")))
    await store.commit_waiting.wait()
    clock.advance(timedelta(seconds=11))  # presumed dead, but only slow
    store.commit_waiting.clear()
    retry = asyncio.create_task(handler(confirm(order_id, idempotency_key="k")))
    await store.commit_waiting.wait()  # the retry read version 1 too

    store.commit_gate.set()  # the slow first attempt commits first, the retry loses the race

    assert (await slow).order.version == 2
    replayed = await retry
    assert replayed.replayed
    assert replayed.order.version == 2
    (event,) = transitions(store)
    assert event.event_id == keys.claims["k operator"].order_id


async def test_a_lost_reply_keeps_the_key_and_the_retry_replays(
    handler: ChangeOrderHandler, store: FakeStore, keys: FakeIdempotencyKeys
) -> None:
    order_id = await placed(store)
    store.lose_replies = True

    with pytest.raises(WriteOutcomeUnknown):
        await handler(confirm(order_id, idempotency_key="k"))
    assert "k operator" in keys.claims
    store.lose_replies = False

    again = await handler(confirm(order_id, idempotency_key="k"))

    assert again.replayed
    assert len(transitions(store)) == 1


async def test_storage_down_changes_nothing_and_gives_the_key_back(
    handler: ChangeOrderHandler, store: FakeStore, keys: FakeIdempotencyKeys
) -> None:
    order_id = await placed(store)
    store.fail_commits = True

    with pytest.raises(StorageUnavailable):
        await handler(confirm(order_id, idempotency_key="k"))

    assert keys.claims == {}
    assert store.orders[order_id].version == 1
    store.fail_commits = False
    assert not (await handler(confirm(order_id, idempotency_key="k"))).replayed


async def test_a_refused_command_gives_the_key_back(
    handler: ChangeOrderHandler, store: FakeStore, keys: FakeIdempotencyKeys
) -> None:
    order_id = await placed(store)
    await handler(cancel(order_id, ADMIN))

    with pytest.raises(TransitionNotAllowed):
        await handler(confirm(order_id, idempotency_key="k"))

    assert keys.claims == {}
