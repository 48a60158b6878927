"""The ledger of notified events in Redis: durable, shared by every replica, one key per event.

A key holds `pending:<token>` (a claim, with a short TTL) or `sent:<token>` (with a long TTL;
the token of the attempt that sent, and plain `sent` as written before tokens were kept).
Claiming is one atomic `SET key pending:<token> NX PX <claim> GET` (Redis >= 7.0): it either
takes the key or returns who holds it, so two replicas never both get the claim. Giving a claim
back is a compare-and-delete script, so an attempt whose claim expired and was taken over
cannot remove its successor's claim. Recording is one `SET key sent:<token> PX <keep> GET`: only
an attempt that did send records, so `sent` is true whenever it lands and may replace anything;
what it replaced tells whether another attempt took over and sent too.

The client retries a command whose reply timed out; a retried claim can then find its own
first try's claim, which is still this attempt's (not another one in flight). So does a claim
made again with the token of one whose answer never came (`NotifyCustomerHandler` keeps it).

Claims and records issued in the same event-loop turn (a batch's notifications run
concurrently) travel as one pipeline (`TurnPipeline`): one round trip per batch instead of one
per event, each command keeping its own answer or error.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from order_platform.notification_service.application.ports import (
    Claim,
    ClaimState,
    LedgerUnavailable,
    Recorded,
)
from order_platform.notification_service.infrastructure.redis_coalescing import TurnPipeline

SENT = b"sent"
PENDING = b"pending:"


def _is_sent(holder: object) -> bool:
    return isinstance(holder, bytes) and (holder == SENT or holder.startswith(SENT + b":"))


_RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def new_redis_client(url: str, *, timeout_seconds: float) -> Redis:
    """A client that survives a Redis restart (reconnects, retries) and never hangs."""
    return Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=30,
    )


class RedisNotificationLedger:
    def __init__(
        self, client: Redis, *, key_prefix: str, claim_for: timedelta, keep_sent_for: timedelta
    ) -> None:
        self._client = client
        self._prefix = key_prefix
        self._claim_ms = int(claim_for.total_seconds() * 1000)
        self._keep_ms = int(keep_sent_for.total_seconds() * 1000)
        self._release = client.register_script(_RELEASE_SCRIPT)
        self._pipelined = TurnPipeline(client)

    def key(self, event_id: UUID) -> str:
        return f"{self._prefix}:event:{event_id}"

    async def claim(self, event_id: UUID, token: str | None = None) -> Claim:
        token = token or uuid.uuid4().hex
        mine = PENDING + token.encode()
        try:
            holder = await self._pipelined.run(
                lambda p: p.set(self.key(event_id), mine, nx=True, px=self._claim_ms, get=True)
            )
        except (RedisError, OSError) as error:
            raise LedgerUnavailable(f"redis: {error!r}") from error
        if holder is None or holder == mine:
            return Claim(event_id, ClaimState.CLAIMED, token)
        if _is_sent(holder):
            return Claim(event_id, ClaimState.SENT)
        return Claim(event_id, ClaimState.IN_FLIGHT)

    async def mark_sent(self, claim: Claim) -> Recorded:
        token = claim.token.encode()
        try:
            replaced = await self._pipelined.run(
                lambda p: p.set(
                    self.key(claim.event_id), SENT + b":" + token, px=self._keep_ms, get=True
                )
            )
        except (RedisError, OSError) as error:
            raise LedgerUnavailable(f"redis: {error!r}") from error
        if replaced is None or replaced == PENDING + token:
            return Recorded.OWN_CLAIM
        if replaced == SENT + b":" + token:
            return Recorded.ALREADY_RECORDED
        return Recorded.TAKEN_OVER

    async def release(self, claim: Claim) -> None:
        try:
            await self._release(
                keys=[self.key(claim.event_id)], args=[PENDING + claim.token.encode()]
            )
        except (RedisError, OSError) as error:
            raise LedgerUnavailable(f"redis: {error!r}") from error

    async def sent_at(self, event_ids: Sequence[UUID]) -> dict[UUID, datetime]:
        """When each `sent` record was written, from its remaining time to live: it was
        written with a TTL of `keep_sent_for`, so it is `keep_sent_for - PTTL` old (exact while
        the setting is unchanged; Redis counts the time, so no clock is compared)."""
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for event_id in event_ids:
                    pipe.get(self.key(event_id))
                    pipe.pttl(self.key(event_id))
                replies = await pipe.execute()
        except (RedisError, OSError) as error:
            raise LedgerUnavailable(f"redis: {error!r}") from error
        now = datetime.now(UTC)
        times = {}
        for event_id, holder, ttl_ms in zip(event_ids, replies[::2], replies[1::2], strict=True):
            if _is_sent(holder) and isinstance(ttl_ms, int) and ttl_ms >= 0:
                times[event_id] = now - timedelta(milliseconds=max(self._keep_ms - ttl_ms, 0))
        return times

    async def ping(self) -> object:
        return await self._client.ping()
