"""Redis cache-aside for the query side, which degrades to "miss" whenever Redis is away.

An order is cached by id with its version, and a version never replaces a newer one (one
script, `SET_IF_NEWER`): a reader that loaded the database before a change cannot put the
older state back over the projection's. The projection puts each changed order before it is
readable by id as changed, and waits while Redis is away rather than leave an older version
in it (`replace_order`); it adds each order it stores for the first time once readable, so
that the order's first read is one round trip, not three (`add_orders`, best effort). A 404
is never cached. List answers are cached under a generation number that every projection
increments: a reader that loaded the database before a projection stores its answer under
the old generation, where no later reader looks (the stale-set race cannot serve stale data).

Orders and pages are also keyed by the read model's generation (`scoped`), so once a rebuilt
model goes live nothing cached from the previous one is found; the scopes of one cache share
its Redis client, its list counter and what it knows about Redis being away.

Shipped and cancelled orders never change again, so the most recently read of those are also
kept in the process (a small LRU in front of Redis, by the same key): a hit there costs no
round trip, and it can never be stale. Orders that may still change, and pages, are not.
"""

from __future__ import annotations

import copy
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import structlog
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from order_platform.read_service.application.ports import CacheUnavailable, Page
from order_platform.read_service.domain import PLACED, ListPosition, OrderView

log = structlog.get_logger(__name__)

LOOKUPS = Counter("cache_lookups_total", "Cache lookups by kind and result", ["kind", "result"])
INVALIDATIONS = Counter("cache_invalidations_total", "List generations made obsolete")
ERRORS = Counter("cache_errors_total", "Redis calls that failed: answered from MongoDB instead")
ORDER_HIT, ORDER_MISS = LOOKUPS.labels("order", "hit"), LOOKUPS.labels("order", "miss")
LIST_HIT, LIST_MISS = LOOKUPS.labels("list", "hit"), LOOKUPS.labels("list", "miss")


# KEYS[1] the order's key; ARGV: its version, its cached value (`_cached_value`), the TTL in
# seconds. A value cached before versions existed (no "<version>|" prefix) counts as older.
SET_IF_NEWER = """
local cached = redis.call('GET', KEYS[1])
if cached then
    local version = tonumber(string.match(cached, '^(%d+)|'))
    if version and version >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
"""


def _view_to_json(view: OrderView) -> list[str | int | None]:
    return [
        str(view.id),
        view.customer_name,
        str(view.total_amount),
        view.created_at.isoformat(),
        str(view.event_id),
        view.customer_id,
        view.status,
        view.version,
        view.updated_at.isoformat() if view.updated_at is not None else None,
        view.tracking_number,
        view.cancellation_reason,
    ]


def _view_from_json(fields: list[Any]) -> OrderView:
    # Entries cached before orders had a customer have five fields, before they had a life six.
    order_id, name, amount, created_at, event_id, *rest = fields
    customer, status, version, updated_at, tracking, reason = [*rest, *[None] * 6][:6]
    return OrderView(
        id=UUID(order_id),
        customer_name=name,
        total_amount=Decimal(amount),
        created_at=datetime.fromisoformat(created_at),
        event_id=UUID(event_id),
        customer_id=customer,
        status=status or PLACED,
        version=version or 1,
        updated_at=datetime.fromisoformat(updated_at) if updated_at else None,
        tracking_number=tracking,
        cancellation_reason=reason,
    )


def _cached_value(view: OrderView) -> str:
    return f"{view.version}|{json.dumps(_view_to_json(view))}"


def _cached_view(raw: bytes | str) -> OrderView:
    text = raw.decode() if isinstance(raw, bytes) else raw
    value = text if text.startswith("[") else text.partition("|")[2]  # "<version>|<json>"
    return _view_from_json(json.loads(value))


def _position_token(position: ListPosition | None) -> str:
    return "first" if position is None else f"{position.created_at.isoformat()}|{position.order_id}"


class _Link:
    """What every scope of one cache shares: whether Redis is away, what is owed to it."""

    def __init__(self) -> None:
        self.skip_until = 0.0
        self.invalidation_owed = False
        self.last_error: str | None = None


class _RecentOrders:
    """The last `size` orders read, least recently used out first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._views: OrderedDict[str, OrderView] = OrderedDict()

    def get(self, key: str) -> OrderView | None:
        view = self._views.get(key)
        if view is not None:
            self._views.move_to_end(key)
        return view

    def put(self, key: str, view: OrderView) -> None:
        self._views[key] = view
        self._views.move_to_end(key)
        if len(self._views) > self._size:
            self._views.popitem(last=False)


class RedisViewCache:
    def __init__(
        self,
        redis: Redis,
        *,
        order_ttl_seconds: int,
        list_ttl_seconds: int,
        retry_after_seconds: float,
        key_prefix: str = "",
        orders_in_process: int = 4096,
    ) -> None:
        self._redis = redis
        self._root_prefix = key_prefix
        self._prefix = key_prefix  # of orders and pages: the root's, then the generation's
        self._generation_key = f"{key_prefix}orders:list:generation"
        self._order_ttl = order_ttl_seconds
        self._list_ttl = list_ttl_seconds
        self._retry_after = retry_after_seconds
        self._link = _Link()
        self._recent = _RecentOrders(orders_in_process)  # shared by the scopes, like the link

    def scoped(self, generation: str) -> RedisViewCache:
        scoped = copy.copy(self)  # shares the client and the link
        # The generation before the first read model had one is "": the keys it always had.
        scoped._prefix = f"{self._root_prefix}{generation}:" if generation else self._root_prefix
        return scoped

    @property
    def last_error(self) -> str | None:
        return self._link.last_error

    @property
    def available(self) -> bool:
        return self._link.last_error is None

    def _order_key(self, order_id: UUID) -> str:
        return f"{self._prefix}order:{order_id}"

    async def get_order(self, order_id: UUID) -> OrderView | None:
        key = self._order_key(order_id)
        if (recent := self._recent.get(key)) is not None:
            ORDER_HIT.inc()
            return recent
        raw = await self._safely(lambda: self._redis.get(key))
        (ORDER_MISS if raw is None else ORDER_HIT).inc()
        if raw is None:
            return None
        view = _cached_view(raw)
        if view.final:
            self._recent.put(key, view)
        return view

    async def put_order(self, view: OrderView) -> None:
        if view.final:
            self._recent.put(self._order_key(view.id), view)
        await self._safely(lambda: self._set_if_newer(view))

    async def add_orders(self, views: Sequence[OrderView]) -> None:
        if not views:
            return

        async def set_absent() -> None:
            # Nothing of an order stored for the first time can be newer than it: SET NX, no
            # script; whatever is there (a reader's put in between) is at least as new.
            async with self._redis.pipeline(transaction=False) as pipe:
                for view in views:
                    pipe.set(
                        self._order_key(view.id), _cached_value(view), ex=self._order_ttl, nx=True
                    )
                await pipe.execute()

        await self._safely(set_absent)

    async def replace_order(self, view: OrderView) -> None:
        try:
            await self._set_if_newer(view)
        except (RedisError, OSError, TimeoutError) as error:
            raise CacheUnavailable(f"Redis: {error}") from error
        if view.final:
            self._recent.put(self._order_key(view.id), view)

    async def _set_if_newer(self, view: OrderView) -> None:
        key, value = self._order_key(view.id), _cached_value(view)
        await self._redis.eval(SET_IF_NEWER, 1, key, view.version, value, self._order_ttl)

    async def list_generation(self) -> int | None:
        raw = await self._safely(lambda: self._redis.get(self._generation_key))
        if raw is None:
            return None if not self.available else 0
        return int(raw)

    async def get_page(
        self,
        generation: int,
        limit: int,
        after: ListPosition | None,
        owner: str | None = None,
        status: str | None = None,
    ) -> Page | None:
        key = self._page_key(generation, limit, after, owner, status)
        raw = await self._safely(lambda: self._redis.get(key))
        (LIST_MISS if raw is None else LIST_HIT).inc()
        if raw is None:
            return None
        data = json.loads(raw)
        next_after = (
            ListPosition(datetime.fromisoformat(data["next"][0]), UUID(data["next"][1]))
            if data["next"]
            else None
        )
        return Page([_view_from_json(fields) for fields in data["orders"]], next_after)

    async def put_page(
        self,
        generation: int,
        limit: int,
        after: ListPosition | None,
        page: Page,
        owner: str | None = None,
        status: str | None = None,
    ) -> None:
        payload = json.dumps(
            {
                "orders": [_view_to_json(view) for view in page.orders],
                "next": None
                if page.next_after is None
                else [page.next_after.created_at.isoformat(), str(page.next_after.order_id)],
            }
        )
        key = self._page_key(generation, limit, after, owner, status)
        await self._safely(lambda: self._redis.set(key, payload, ex=self._list_ttl))

    async def invalidate_lists(self) -> None:
        self._link.invalidation_owed = True
        await self._safely(None)  # paying what is owed is all there is to do

    async def ping(self) -> None:
        """For readiness: raises while Redis does not answer."""
        await self._redis.ping()

    def _page_key(
        self,
        generation: int,
        limit: int,
        after: ListPosition | None,
        owner: str | None,
        status: str | None,
    ) -> str:
        key = f"{self._prefix}orders:list:{generation}:{limit}:{_position_token(after)}"
        if status is not None:  # a status holds no ":" (one of four words)
            key = f"{key}:status:{status}"
        # One customer's pages apart from the whole list's: the owner comes last, after a
        # marker no position token holds, so no two callers' keys can meet.
        return key if owner is None else f"{key}:owner:{owner}"

    async def _safely[T](self, operation: Callable[[], Awaitable[T]] | None) -> T | None:
        """Run a Redis call, or skip it while Redis is known to be away; never raise."""
        link = self._link
        if time.monotonic() < link.skip_until:
            ERRORS.inc()  # skipped: counted as a fallback to MongoDB too
            return None
        try:
            if link.invalidation_owed:
                # A projection ran while Redis was away: lists cached before it are stale.
                await self._redis.incr(self._generation_key)
                link.invalidation_owed = False
                INVALIDATIONS.inc()
            result = None if operation is None else await operation()
        except (RedisError, OSError, TimeoutError) as error:
            ERRORS.inc()
            link.skip_until = time.monotonic() + self._retry_after
            if link.last_error is None:
                log.warning("redis_unavailable_serving_from_mongodb", error=str(error))
            link.last_error = f"{type(error).__name__}: {error}"
            return None
        if link.last_error is not None:
            log.info("redis_available_again")
            link.last_error = None
        return result
