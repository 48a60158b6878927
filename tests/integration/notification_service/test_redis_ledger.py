"""The notification ledger: one contract for the fake and for Redis, then what only Redis has."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from order_platform.embedded import RedisServer
from order_platform.embedded.ports import find_free_port
from order_platform.notification_service.application.notify_customer import (
    NotificationInFlight,
    NotifyCustomerHandler,
    Outcome,
)
from order_platform.notification_service.application.ports import (
    ClaimState,
    LedgerUnavailable,
    NotificationLedger,
)
from order_platform.notification_service.domain import Notification
from order_platform.notification_service.infrastructure.redis_ledger import (
    RedisNotificationLedger,
    new_redis_client,
)
from tests.support.waiting import eventually
from tests.unit.notification_service.fakes import FakeLedger, RecordingSender


@pytest.fixture
async def redis_ledger(redis_url: str, unique_name: str) -> AsyncIterator[RedisNotificationLedger]:
    client = new_redis_client(redis_url, timeout_seconds=1)
    yield RedisNotificationLedger(
        client,
        key_prefix=unique_name,
        claim_for=timedelta(seconds=0.5),
        keep_sent_for=timedelta(hours=1),
    )
    await client.aclose()


@pytest.fixture(params=["fake", "redis"])
def ledger(request: pytest.FixtureRequest) -> NotificationLedger:
    if request.param == "fake":
        return FakeLedger()
    ledger: NotificationLedger = request.getfixturevalue("redis_ledger")
    return ledger


async def test_contract_the_first_claim_wins_and_the_rest_see_it_in_flight(
    ledger: NotificationLedger,
) -> None:
    event_id = uuid4()

    claims = await asyncio.gather(*(ledger.claim(event_id) for _ in range(5)))

    assert sorted(claim.state.value for claim in claims) == ["claimed"] + ["in_flight"] * 4


async def test_contract_a_sent_event_stays_sent(ledger: NotificationLedger) -> None:
    event_id = uuid4()
    await ledger.mark_sent(await ledger.claim(event_id))

    assert (await ledger.claim(event_id)).state is ClaimState.SENT
    assert (await ledger.claim(event_id)).state is ClaimState.SENT


async def test_contract_a_released_claim_can_be_taken_again(ledger: NotificationLedger) -> None:
    event_id = uuid4()
    await ledger.release(await ledger.claim(event_id))

    assert (await ledger.claim(event_id)).state is ClaimState.CLAIMED


async def test_contract_releasing_does_not_undo_a_send(ledger: NotificationLedger) -> None:
    event_id = uuid4()
    claim = await ledger.claim(event_id)
    await ledger.mark_sent(claim)
    await ledger.release(claim)

    assert (await ledger.claim(event_id)).state is ClaimState.SENT


async def test_a_claim_whose_holder_crashed_expires(redis_ledger: RedisNotificationLedger) -> None:
    event_id = uuid4()
    crashed = await redis_ledger.claim(event_id)
    assert (await redis_ledger.claim(event_id)).state is ClaimState.IN_FLIGHT

    async def claimable() -> bool:
        return (await redis_ledger.claim(event_id)).state is ClaimState.CLAIMED

    await eventually(claimable, timeout=3, what="the claim expired and was taken over")
    # The crashed attempt's late release must not remove its successor's claim.
    await redis_ledger.release(crashed)
    assert (await redis_ledger.claim(event_id)).state is ClaimState.IN_FLIGHT


async def test_guarantee_2_two_replicas_racing_for_one_event_send_it_once(
    redis_ledger: RedisNotificationLedger,
) -> None:
    sender = RecordingSender()
    sender.gate = asyncio.Event()
    replica_a = NotifyCustomerHandler(sender=sender, ledger=redis_ledger)
    replica_b = NotifyCustomerHandler(sender=sender, ledger=redis_ledger)
    event = Notification(
        event_id=uuid4(), order_id=uuid4(), customer_name="Lucas", total_amount=Decimal("1.00")
    )
    sending = asyncio.create_task(replica_a(event))
    await sender.sending.wait()

    with pytest.raises(NotificationInFlight):
        await replica_b(event)
    sender.gate.set()

    assert await sending is Outcome.SENT
    assert await replica_b(event) is Outcome.DUPLICATE
    assert len(sender.sent) == 1


async def test_an_unreachable_redis_is_ledger_unavailable() -> None:
    client = new_redis_client(f"redis://127.0.0.1:{find_free_port()}/0", timeout_seconds=0.2)
    ledger = RedisNotificationLedger(
        client, key_prefix="x", claim_for=timedelta(seconds=1), keep_sent_for=timedelta(hours=1)
    )
    try:
        with pytest.raises(LedgerUnavailable):
            await ledger.claim(uuid4())
    finally:
        await client.aclose()


async def test_the_client_survives_a_redis_restart(
    redis_server: RedisServer, redis_ledger: RedisNotificationLedger
) -> None:
    await redis_ledger.claim(uuid4())  # the pool holds a connection now
    redis_server.restart()

    assert (await redis_ledger.claim(uuid4())).state is ClaimState.CLAIMED
