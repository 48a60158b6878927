"""One contract for the relay's ports: the fakes of the unit tests and the MongoDB adapters
pass the same tests, so the relay's unit tests cannot drift from what MongoDB does."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from order_platform.order_service.infrastructure.outbox import (
    MongoOutbox,
    OutboxEntry,
    Unpublished,
)
from order_platform.order_service.infrastructure.relay import Heartbeats, Outbox
from order_platform.order_service.infrastructure.relay_registry import RelayRegistry
from tests.unit.order_service.relay_fakes import FakeHeartbeats, FakeOutbox, FakeOutboxStore

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
LEASE = timedelta(seconds=10)


class AlreadyStored(Exception):
    """The order's `_id` is taken (by the order, or by a fence)."""


@dataclass
class Replicas:
    """Ports of two relays over one store, and a way to land an order's write in it."""

    outbox: Callable[[str], Outbox]
    heartbeats: Callable[[str], Heartbeats]
    insert: Callable[[OutboxEntry], Awaitable[None]]


@pytest.fixture(params=["fake", "mongodb"])
def replicas(request: pytest.FixtureRequest, database: AsyncDatabase[dict[str, Any]]) -> Replicas:
    if request.param == "fake":
        store = FakeOutboxStore()

        async def insert_fake(entry: OutboxEntry) -> None:
            if not store.insert(entry):
                raise AlreadyStored(entry.order_id)

        return Replicas(
            lambda owner: FakeOutbox(store, owner=owner, lease=LEASE),
            lambda owner: FakeHeartbeats(store, owner=owner, lease=LEASE),
            insert_fake,
        )

    async def insert_document(entry: OutboxEntry) -> None:
        try:
            await database.orders.insert_one(
                {
                    "_id": entry.order_id,
                    "createdAt": entry.created_at,
                    "outbox": entry.to_document(),
                }
            )
        except DuplicateKeyError as error:
            raise AlreadyStored(entry.order_id) from error

    return Replicas(
        lambda owner: MongoOutbox(database.orders, owner=owner, lease=LEASE),
        lambda owner: RelayRegistry(database.outbox_relays, owner=owner, lease=LEASE),
        insert_document,
    )


def entry(owner: str, lease_until: datetime, seq: int = 1) -> OutboxEntry:
    order_id = str(uuid4())
    return OutboxEntry(
        order_id=order_id,
        event_id=str(uuid4()),
        key=order_id.encode(),
        value=b"{}",
        headers=(("event-type", b"OrderCreated"),),
        lease_owner=owner,
        lease_until=lease_until,
        created_at=NOW,
        seq=seq,
    )


def numbers(start: int) -> Callable[[], int]:
    return itertools.count(start).__next__


def everything_of(*owners: str) -> dict[str, Unpublished]:
    return {owner: Unpublished(mark=0) for owner in owners}


async def test_renew_is_a_compare_and_set_on_the_owner(replicas: Replicas) -> None:
    mine, theirs = replicas.outbox("a"), replicas.outbox("b")
    stored = entry("a", NOW + LEASE)
    assert await mine.renew(stored, NOW) is None  # not stored yet: nothing to renew
    await replicas.insert(stored)

    renewed = await mine.renew(stored, NOW + timedelta(seconds=5))
    assert renewed is not None
    assert renewed.lease_until == NOW + timedelta(seconds=5) + LEASE
    assert await theirs.renew(stored, NOW) is None


async def test_only_expired_entries_are_claimed_and_each_by_one_replica(replicas: Replicas) -> None:
    fresh, expired = entry("a", NOW + LEASE), entry("a", NOW - timedelta(seconds=1))
    await replicas.insert(fresh)
    await replicas.insert(expired)

    (claimed,) = await replicas.outbox("b").claim_expired(
        NOW, limit=10, unpublished=everything_of("a"), new_seq=numbers(7)
    )
    assert claimed.event_id == expired.event_id
    assert (claimed.lease_owner, claimed.lease_until, claimed.seq) == ("b", NOW + LEASE, 7)
    assert (
        await replicas.outbox("c").claim_expired(
            NOW, limit=10, unpublished=everything_of("a", "b"), new_seq=numbers(1)
        )
        == []
    )
    assert await replicas.outbox("a").renew(expired, NOW) is None  # no longer its


async def test_only_entries_above_their_relays_mark_or_expected_are_claimed(
    replicas: Replicas,
) -> None:
    expired = NOW - timedelta(seconds=1)
    stored = {seq: entry("a", expired, seq) for seq in (1, 2, 3, 4)}
    for each in (*stored.values(), entry("unknown", expired)):
        await replicas.insert(each)

    claimed = await replicas.outbox("b").claim_expired(
        NOW, limit=10, unpublished={"a": Unpublished(mark=2, expected=(1,))}, new_seq=numbers(1)
    )

    wanted = {stored[seq].event_id for seq in (1, 3, 4)}
    assert {claim.event_id for claim in claimed} == wanted


async def test_a_relay_reclaiming_its_own_entries_keeps_their_numbers_and_skips_published(
    replicas: Replicas,
) -> None:
    expired = NOW - timedelta(seconds=1)
    dropped, published = entry("a", expired, seq=5), entry("a", expired, seq=6)
    await replicas.insert(dropped)
    await replicas.insert(published)

    (claimed,) = await replicas.outbox("a").claim_expired(
        NOW, limit=10, unpublished=everything_of("a"), new_seq=numbers(100), published={6}
    )

    assert (claimed.event_id, claimed.seq) == (dropped.event_id, 5)


async def test_a_relay_holds_unpublished_entries_above_its_mark_whatever_their_lease(
    replicas: Replicas,
) -> None:
    outbox = replicas.outbox("b")
    await replicas.insert(entry("a", NOW + LEASE * 10, seq=3))

    assert await outbox.holds_unpublished("a", Unpublished(mark=2))
    assert not await outbox.holds_unpublished("a", Unpublished(mark=3))
    assert await outbox.holds_unpublished("a", Unpublished(mark=3, expected=(3,)))
    assert not await outbox.holds_unpublished("c", Unpublished(mark=0))


async def test_a_fence_stops_an_insert_from_landing_and_fails_on_a_stored_one(
    replicas: Replicas,
) -> None:
    outbox = replicas.outbox("a")
    lost, stored = entry("a", NOW + LEASE), entry("a", NOW + LEASE)
    await replicas.insert(stored)

    assert await outbox.fence(lost)
    assert not await outbox.fence(stored)
    with pytest.raises(AlreadyStored):
        await replicas.insert(lost)


async def test_a_relay_whose_heartbeat_ran_out_is_departed_until_forgotten(
    replicas: Replicas,
) -> None:
    gone, alive = replicas.heartbeats("gone"), replicas.heartbeats("alive")
    await gone.beat(NOW, Unpublished(mark=4, expected=(2,)))
    await alive.beat(NOW + timedelta(seconds=5), Unpublished(mark=0))
    assert await alive.departed(NOW + timedelta(seconds=5)) == []

    later = NOW + LEASE + timedelta(seconds=1)
    assert await alive.departed(later) == [("gone", NOW + LEASE)]
    assert not alive.fully_expired(NOW + LEASE, later)
    assert alive.fully_expired(NOW + LEASE, NOW + LEASE + alive.beat_interval * 2)
    assert await alive.unpublished(["gone"]) == {"gone": Unpublished(mark=4, expected=(2,))}
    await alive.forget("gone", NOW + LEASE)
    assert await alive.departed(later) == []
    assert await alive.unpublished(["gone"]) == {}


async def test_a_relays_mark_never_moves_back(replicas: Replicas) -> None:
    relay = replicas.heartbeats("a")
    await relay.beat(NOW, Unpublished(mark=9))
    await relay.beat(NOW + timedelta(seconds=1), Unpublished(mark=3, expected=(1,)))

    assert await relay.unpublished(["a", "b"]) == {"a": Unpublished(mark=9, expected=(1,))}


async def test_a_relay_that_leaves_is_not_departed(replicas: Replicas) -> None:
    leaving, other = replicas.heartbeats("leaving"), replicas.heartbeats("other")
    await leaving.beat(NOW, Unpublished(mark=0))
    await leaving.leave()
    assert await other.departed(NOW + LEASE * 2) == []
