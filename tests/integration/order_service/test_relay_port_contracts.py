"""One contract for the relay's ports: the fakes of the unit tests and the MongoDB adapters
pass the same tests, so the relay's unit tests cannot drift from what MongoDB does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from order_platform.order_service.outbox.entry import OutboxEntry
from order_platform.order_service.outbox.relay import Heartbeats, Outbox
from order_platform.order_service.outbox.relay_registry import RelayRegistry
from order_platform.order_service.outbox.store import MongoOutbox
from tests.unit.order_service.relay_fakes import FakeHeartbeats, FakeOutbox, FakeOutboxStore

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
LEASE = timedelta(seconds=10)


class AlreadyStored(Exception):
    """The order's `_id` is taken."""


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


def entry(owner: str, lease_until: datetime) -> OutboxEntry:
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
    )


async def test_renew_is_a_compare_and_set_on_the_owner(replicas: Replicas) -> None:
    mine, theirs = replicas.outbox("a"), replicas.outbox("b")
    stored = entry("a", NOW + LEASE)
    assert await mine.renew(stored, NOW) is None  # not stored yet: nothing to renew
    await replicas.insert(stored)

    renewed = await mine.renew(stored, NOW + timedelta(seconds=5))
    assert renewed is not None
    assert renewed.lease_until == NOW + timedelta(seconds=5) + LEASE
    assert await theirs.renew(stored, NOW) is None


async def test_renew_answers_the_entry_as_stored_not_the_callers_copy(replicas: Replicas) -> None:
    # Two attempts of one command may write different events under one reserved event id.
    stored = entry("a", NOW + LEASE)
    await replicas.insert(stored)
    stale = replace(stored, value=b'{"stale": true}', created_at=NOW - LEASE)

    renewed = await replicas.outbox("a").renew(stale, NOW)

    assert renewed == replace(stored, lease_until=NOW + LEASE)


async def test_only_expired_entries_are_claimed_and_each_by_one_replica(replicas: Replicas) -> None:
    fresh, expired = entry("a", NOW + LEASE), entry("a", NOW - timedelta(seconds=1))
    await replicas.insert(fresh)
    await replicas.insert(expired)

    (claimed,) = await replicas.outbox("b").claim_expired(NOW, limit=10)
    assert claimed.event_id == expired.event_id
    assert (claimed.lease_owner, claimed.lease_until) == ("b", NOW + LEASE)
    assert await replicas.outbox("c").claim_expired(NOW, limit=10) == []
    assert await replicas.outbox("a").renew(expired, NOW) is None  # no longer its


async def test_an_expired_entry_is_claimed_whoever_held_it(replicas: Replicas) -> None:
    expired = NOW - timedelta(seconds=1)
    held = [entry(owner, expired) for owner in ("a", "b", "never-heard-of")]
    for each in held:
        await replicas.insert(each)

    claimed = await replicas.outbox("b").claim_expired(NOW, limit=10)

    assert {claim.event_id for claim in claimed} == {each.event_id for each in held}


async def test_a_published_entry_is_neither_renewed_nor_claimed_again(replicas: Replicas) -> None:
    outbox = replicas.outbox("a")
    published, waiting = entry("a", NOW + LEASE), entry("a", NOW + LEASE)
    await replicas.insert(published)
    await replicas.insert(waiting)

    await outbox.mark_published([published])
    await outbox.mark_published([])  # nothing to do

    assert await outbox.renew(published, NOW) is None
    assert await outbox.renew(waiting, NOW) is not None
    later = NOW + LEASE * 3
    assert [e.event_id for e in await outbox.claim_expired(later, limit=10)] == [waiting.event_id]


async def test_a_relay_whose_heartbeat_ran_out_is_departed_until_forgotten(
    replicas: Replicas,
) -> None:
    gone, alive = replicas.heartbeats("gone"), replicas.heartbeats("alive")
    await gone.beat(NOW)
    await alive.beat(NOW + timedelta(seconds=5))
    assert await alive.departed(NOW + timedelta(seconds=5)) == []

    later = NOW + LEASE + timedelta(seconds=1)
    assert await alive.departed(later) == [("gone", NOW + LEASE)]
    assert not alive.fully_expired(NOW + LEASE, later)
    assert alive.fully_expired(NOW + LEASE, NOW + LEASE + alive.beat_interval * 2)
    await alive.forget("gone", NOW + LEASE)
    assert await alive.departed(later) == []


async def test_a_relay_that_beats_again_is_not_forgotten_by_a_stale_departure(
    replicas: Replicas,
) -> None:
    paused, other = replicas.heartbeats("paused"), replicas.heartbeats("other")
    await paused.beat(NOW)
    await paused.beat(NOW + LEASE * 2)  # back from a pause
    await other.forget("paused", NOW + LEASE)  # what it saw before the pause ended
    assert await other.departed(NOW + LEASE * 3 + timedelta(seconds=1)) == [
        ("paused", NOW + LEASE * 3)
    ]


async def test_a_relay_that_leaves_is_not_departed(replicas: Replicas) -> None:
    leaving, other = replicas.heartbeats("leaving"), replicas.heartbeats("other")
    await leaving.beat(NOW)
    await leaving.leave()
    assert await other.departed(NOW + LEASE * 2) == []
