"""The notification ledger: one contract for the fake and for Redis, then what only Redis has."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from order_platform.devtools.embedded import RedisServer
from order_platform.devtools.embedded.ports import find_free_port
from order_platform.notification_service.application.notify_customer import (
    NotificationInFlight,
    NotifyCustomerHandler,
    Outcome,
)
from order_platform.notification_service.application.ports import (
    ClaimState,
    LedgerUnavailable,
    NotificationLedger,
    Recorded,
)
from order_platform.notification_service.domain import OrderCreatedNotification
from order_platform.notification_service.infrastructure.redis_ledger import (
    RedisNotificationLedger,
    new_redis_client,
)
from tests.support.fault_proxy import FaultProxy
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


async def test_contract_a_claim_made_again_with_its_token_is_its_own(
    ledger: NotificationLedger,
) -> None:
    """What a replica does after a claim's answer was lost: it claims with the same token."""
    event_id = uuid4()
    first = await ledger.claim(event_id, "attempt-1")
    again = await ledger.claim(event_id, "attempt-1")
    another = await ledger.claim(event_id, "attempt-2")

    assert (first.state, again.state, another.state) == (
        ClaimState.CLAIMED,
        ClaimState.CLAIMED,
        ClaimState.IN_FLIGHT,
    )
    assert again.token == "attempt-1"
    assert await ledger.mark_sent(again) is Recorded.OWN_CLAIM
    assert (await ledger.claim(event_id, "attempt-1")).state is ClaimState.SENT


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


async def test_contract_a_record_says_whether_another_attempt_took_the_event_over(
    ledger: NotificationLedger,
) -> None:
    event_id = uuid4()
    first = await ledger.claim(event_id)
    assert await ledger.mark_sent(first) is Recorded.OWN_CLAIM
    assert await ledger.mark_sent(first) is Recorded.ALREADY_RECORDED  # a retried record

    taken_over = uuid4()
    late = await ledger.claim(taken_over)
    await ledger.release(late)  # stands for its expiry
    successor = await ledger.claim(taken_over)
    assert await ledger.mark_sent(late) is Recorded.TAKEN_OVER
    # The late record is true (that attempt did send): a failed send of the successor gives
    # its claim back without erasing it.
    await ledger.release(successor)
    assert (await ledger.claim(taken_over)).state is ClaimState.SENT
    assert await ledger.mark_sent(successor) is Recorded.TAKEN_OVER


async def test_contract_a_record_whose_claim_expired_untouched_is_the_only_send(
    ledger: NotificationLedger,
) -> None:
    event_id = uuid4()
    claim = await ledger.claim(event_id)
    await ledger.release(claim)  # stands for its expiry

    assert await ledger.mark_sent(claim) is Recorded.OWN_CLAIM
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
    event = OrderCreatedNotification(
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


def _ledger_at(
    url: str, prefix: str, *, claim_seconds: float, timeout: float = 0.2
) -> tuple[RedisNotificationLedger, Redis]:
    client = new_redis_client(url, timeout_seconds=timeout)
    ledger = RedisNotificationLedger(
        client,
        key_prefix=prefix,
        claim_for=timedelta(seconds=claim_seconds),
        keep_sent_for=timedelta(hours=1),
    )
    return ledger, client


def _event() -> OrderCreatedNotification:
    return OrderCreatedNotification(
        event_id=uuid4(), order_id=uuid4(), customer_name="Lucas", total_amount=Decimal("1.00")
    )


async def _settled(
    replica: NotifyCustomerHandler, event: OrderCreatedNotification
) -> Outcome | None:
    """What a replica that owns the partition now does with a redelivery of `event`."""
    try:
        return await replica(event)
    except NotificationInFlight:
        return None  # the runner waits and redelivers, without committing past the event


async def _send_then_lose_the_record(
    replica: NotifyCustomerHandler,
    sender: RecordingSender,
    proxy: FaultProxy,
    event: OrderCreatedNotification,
) -> None:
    """The claim reaches Redis, the send goes out, then Redis stops answering the sender."""
    sender.gate = asyncio.Event()
    sending = asyncio.create_task(replica(event))
    await sender.sending.wait()
    proxy.blackhole()
    sender.gate.set()
    with pytest.raises(LedgerUnavailable):
        await sending
    # What went into the black hole is lost, as on a broken network path: no late record.
    proxy.drop_connections()


async def test_guarantee_2_a_redis_stall_after_a_send_never_makes_a_replica_taking_over_send(
    redis_server: RedisServer, redis_url: str, unique_name: str
) -> None:
    """Replica A sends, its `sent` record is blackholed; the partition moves to replica B."""
    sender = RecordingSender()
    event = _event()
    with FaultProxy(redis_server.host, redis_server.port) as proxy:
        ledger_a, client_a = _ledger_at(f"redis://{proxy.address}/0", unique_name, claim_seconds=4)
        ledger_b, client_b = _ledger_at(redis_url, unique_name, claim_seconds=4, timeout=1)
        replica_a = NotifyCustomerHandler(sender=sender, ledger=ledger_a, record_retry_seconds=0.05)
        replica_b = NotifyCustomerHandler(sender=sender, ledger=ledger_b)
        retrying = asyncio.create_task(replica_a.retry_unrecorded_forever())
        try:
            await _send_then_lose_the_record(replica_a, sender, proxy, event)

            assert await _settled(replica_b, event) is None  # A's claim is live: B waits
            proxy.heal()
            outcome = await eventually(
                lambda: _settled(replica_b, event), timeout=10, what="B settled the event"
            )
        finally:
            retrying.cancel()
            await client_a.aclose()
            await client_b.aclose()

    assert outcome is Outcome.DUPLICATE
    assert sender.sent == [event]


async def test_guarantee_2_a_duplicate_needs_redis_unreachable_from_the_sender_beyond_the_claim(
    redis_server: RedisServer, redis_url: str, unique_name: str
) -> None:
    """Case (b) of the README, and only it: then the second send is reported."""
    sender = RecordingSender()
    event = _event()
    reports: list[Recorded] = []
    with FaultProxy(redis_server.host, redis_server.port) as proxy:
        ledger_a, client_a = _ledger_at(f"redis://{proxy.address}/0", unique_name, claim_seconds=1)
        ledger_b, client_b = _ledger_at(redis_url, unique_name, claim_seconds=1, timeout=1)
        replica_a = NotifyCustomerHandler(
            sender=sender,
            ledger=ledger_a,
            report=lambda _, recorded: reports.append(recorded),
            record_retry_seconds=0.05,
        )
        replica_b = NotifyCustomerHandler(sender=sender, ledger=ledger_b)
        retrying = asyncio.create_task(replica_a.retry_unrecorded_forever())
        try:
            await _send_then_lose_the_record(replica_a, sender, proxy, event)
            sender.gate = None

            # Still unreachable from A when its claim expires: B takes over and sends again.
            outcome = await eventually(
                lambda: _settled(replica_b, event), timeout=10, what="B took the event over"
            )
            assert outcome is Outcome.SENT
            proxy.heal()
            await eventually(
                lambda: _is(replica_a.unrecorded == 0), timeout=10, what="A's late record landed"
            )
        finally:
            retrying.cancel()
            await client_a.aclose()
            await client_b.aclose()

    assert sender.sent == [event, event]
    assert reports == [Recorded.TAKEN_OVER]


async def test_a_claim_retried_after_a_late_reply_is_still_this_attempts(
    redis_server: RedisServer, unique_name: str
) -> None:
    """The client retries a claim whose answer timed out; the retry finds its own first try."""
    with FaultProxy(redis_server.host, redis_server.port) as proxy:
        ledger, client = _ledger_at(f"redis://{proxy.address}/0", unique_name, claim_seconds=5)
        try:
            await ledger.ping()  # connected before the fault
            proxy.hold_replies()
            event_id = uuid4()
            claiming = asyncio.create_task(ledger.claim(event_id))
            accepted = proxy.connections_accepted
            await eventually(
                lambda: _is(proxy.connections_accepted > accepted), what="the client's retry"
            )
            proxy.release_replies()
            claim = await claiming
        finally:
            await client.aclose()

    assert claim.state is ClaimState.CLAIMED


async def _is(value: bool) -> bool:
    return value


async def test_a_batchs_claims_and_records_share_one_connection_and_round_trip(
    redis_server: RedisServer, unique_name: str
) -> None:
    events = [uuid4() for _ in range(20)]
    with FaultProxy(redis_server.host, redis_server.port) as proxy:
        ledger, client = _ledger_at(f"redis://{proxy.address}/0", unique_name, claim_seconds=5)
        try:
            claims = await asyncio.gather(*(ledger.claim(event) for event in events))
            records = await asyncio.gather(*(ledger.mark_sent(claim) for claim in claims))
            # One pipeline per turn: the pool never needed a second connection.
            assert proxy.connections_accepted == 1
        finally:
            await client.aclose()

    assert {claim.state for claim in claims} == {ClaimState.CLAIMED}
    assert set(records) == {Recorded.OWN_CLAIM}


async def test_one_commands_error_in_a_batch_fails_that_command_only(
    redis_ledger: RedisNotificationLedger, redis_url: str
) -> None:
    broken, fine = uuid4(), uuid4()
    client = Redis.from_url(redis_url)
    await client.rpush(redis_ledger.key(broken), "not a ledger entry")  # SET ... GET: WRONGTYPE
    await client.aclose()

    outcomes = await asyncio.gather(
        redis_ledger.claim(broken), redis_ledger.claim(fine), return_exceptions=True
    )

    assert isinstance(outcomes[0], LedgerUnavailable)
    assert not isinstance(outcomes[1], BaseException)
    assert outcomes[1].state is ClaimState.CLAIMED
