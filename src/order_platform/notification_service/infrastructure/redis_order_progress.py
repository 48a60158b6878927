"""Each order's progress in Redis, beside the ledger of events: one hash per order.

`<prefix>:order-progress:<order id>` holds `name` (the customer's, from the order's creation),
`version` (the highest version notified in order; 0 once the creation was seen) and
`parked:<version>` (a parked event, `parked_notification_json`); "order-progress", so that it
never meets the read service's `order:<id>` cache keys in a Redis the two share under one
prefix. One hash, so that every write is one atomic
script that also answers the whole record as it left it (`OrderProgressLedger`), and so that
the record and its parked events share one retention, refreshed by every write.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from datetime import timedelta
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from order_platform.notification_service.application.ports import LedgerUnavailable
from order_platform.notification_service.domain import Notification, OrderProgress
from order_platform.notification_service.infrastructure.parked_notification_json import (
    notification_from_parked,
    parked_json,
)
from order_platform.notification_service.infrastructure.redis_coalescing import TurnPipeline

PARKED = "parked:"
# Keys per SCAN step when listing parked events (a hint to Redis, not a bound).
SCAN_STEP = 200

_REMEMBER_CUSTOMER = """
redis.call('HSET', KEYS[1], 'name', ARGV[1])
redis.call('HSETNX', KEYS[1], 'version', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('HGETALL', KEYS[1])
"""

_PARK = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('HGETALL', KEYS[1])
"""

# Never lowers the version: two replicas may advance one order out of order.
_ADVANCE = """
local current = redis.call('HGET', KEYS[1], 'version')
if (not current) or tonumber(ARGV[1]) > tonumber(current) then
    redis.call('HSET', KEYS[1], 'version', ARGV[1])
end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('HGETALL', KEYS[1])
"""


class RedisOrderProgress:
    def __init__(self, client: Redis, *, key_prefix: str, keep_for: timedelta) -> None:
        self._client = client
        self._prefix = key_prefix
        self._keep_ms = str(int(keep_for.total_seconds() * 1000))
        # A batch's orders take each step together: one round trip per step and batch.
        self._pipelined = TurnPipeline(client)

    def key(self, order_id: UUID) -> str:
        return f"{self._prefix}:order-progress:{order_id}"

    async def progress(self, order_id: UUID) -> OrderProgress:
        try:
            fields = await self._pipelined.run(lambda p: p.hgetall(self.key(order_id)))
        except (RedisError, OSError) as error:
            raise LedgerUnavailable(f"redis: {error!r}") from error
        return _progress(fields)

    async def remember_customer(self, order_id: UUID, customer_name: str) -> OrderProgress:
        return await self._run(_REMEMBER_CUSTOMER, order_id, customer_name, self._keep_ms)

    async def park(self, notification: Notification) -> OrderProgress:
        return await self._run(
            _PARK,
            notification.order_id,
            f"{PARKED}{notification.order_version}",
            parked_json(notification),
            self._keep_ms,
        )

    async def advance(self, order_id: UUID, version: int) -> OrderProgress:
        return await self._run(
            _ADVANCE, order_id, str(version), f"{PARKED}{version}", self._keep_ms
        )

    async def with_parked(
        self, *, limit: int, scan_at_most: int
    ) -> tuple[list[tuple[UUID, OrderProgress]], bool]:
        """Orders with parked events, for the operator (`dlq list`): SCAN MATCH over the
        orders' records, read-only, until `limit` such orders or `scan_at_most` records were
        seen; True when the scan went through every record and found no more than `limit`."""
        pattern = f"{_glob_escaped(self._prefix)}:order-progress:*"
        found: list[tuple[UUID, OrderProgress]] = []
        scanned = 0
        cursor: int = 0
        try:
            while True:
                cursor, keys = await self._client.scan(cursor, match=pattern, count=SCAN_STEP)
                scanned += len(keys)
                async with self._client.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.hgetall(key)
                    records = await pipe.execute()
                for key, fields in zip(keys, records, strict=True):
                    order_id = _order_id_of(_text(key))
                    if order_id is None or not any(
                        _text(field).startswith(PARKED) for field in fields
                    ):
                        continue
                    with contextlib.suppress(ValueError):  # unreadable: not for a listing
                        found.append((order_id, _progress(fields)))
                if len(found) > limit:
                    return found[:limit], False
                if cursor == 0:
                    return found, True
                if scanned >= scan_at_most:
                    return found, False
        except (RedisError, OSError) as error:
            raise LedgerUnavailable(f"redis: {error!r}") from error

    async def _run(self, script: str, order_id: UUID, *args: str) -> OrderProgress:
        # EVAL, not EVALSHA: the server caches the compiled script all the same, and a
        # pipeline then never meets NOSCRIPT after a restart of Redis.
        try:
            flat = await self._pipelined.run(lambda p: p.eval(script, 1, self.key(order_id), *args))
        except (RedisError, OSError) as error:
            raise LedgerUnavailable(f"redis: {error!r}") from error
        # A script answers `HGETALL` flat: field, value, field, value, ...
        return _progress(dict(zip(flat[::2], flat[1::2], strict=True)))


def _progress(stored: Mapping[bytes | str, bytes | str]) -> OrderProgress:
    fields = {_text(field): _text(value) for field, value in stored.items()}
    version = fields.pop("version", None)
    name = fields.pop("name", None)
    parked = {
        int(field.removeprefix(PARKED)): notification_from_parked(value)
        for field, value in fields.items()
        if field.startswith(PARKED)
    }
    return OrderProgress(
        notified_version=None if version is None else int(version),
        customer_name=name,
        parked=parked,
    )


def _glob_escaped(text: str) -> str:
    """`text` matched literally in a SCAN MATCH pattern."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


def _order_id_of(key: str) -> UUID | None:
    try:
        return UUID(key.rpartition(":")[2])
    except ValueError:
        return None


def _text(stored: bytes | str) -> str:
    return stored.decode() if isinstance(stored, bytes) else stored
