"""Per-caller request limits counted in Redis (the `limits` library), shared by every replica.

The limit fails open: a Redis that is down or slower than `timeout_seconds` lets the request
through, is counted in `rate_limit_unavailable_total` and logged (once per outage), and is
then skipped for `retry_after_seconds` so that an outage costs no request the timeout again.
A 429 carries `Retry-After` and the `RateLimit-Policy` / `RateLimit` headers of the IETF
draft (draft-ietf-httpapi-ratelimit-headers, structured-field form).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Protocol

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from prometheus_client import Counter

from order_platform.building_blocks.http.problem import problem_response

log = structlog.get_logger(__name__)

DECISIONS = Counter("rate_limit_decisions_total", "Rate-limited requests by outcome", ["outcome"])
UNAVAILABLE = Counter(
    "rate_limit_unavailable_total", "Requests let through because Redis did not answer in time"
)


class RateLimitExceeded(Exception):
    def __init__(
        self, *, policy: str, limit: int, window_seconds: int, retry_after_seconds: int
    ) -> None:
        super().__init__(policy)
        self.policy = policy
        self.limit = limit
        self.window_seconds = window_seconds
        self.retry_after_seconds = retry_after_seconds


class RateLimit(Protocol):
    async def hit(self, caller: str) -> None:
        """Count one request of `caller`; raise `RateLimitExceeded` when over the limit."""
        ...

    async def close(self) -> None: ...


class NoRateLimit:
    async def hit(self, caller: str) -> None:
        return None

    async def close(self) -> None:
        return None


NO_RATE_LIMIT = NoRateLimit()


class RedisRateLimit:
    """`per_minute` requests per caller in any 60 s (a moving window)."""

    window_seconds = 60

    def __init__(
        self,
        redis_url: str,
        *,
        per_minute: int,
        policy: str,
        key_prefix: str = "rate-limit",
        timeout_seconds: float = 0.1,
        retry_after_seconds: float = 5.0,
    ) -> None:
        self._storage = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            key_prefix=key_prefix,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
        )
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._item = RateLimitItemPerMinute(per_minute, namespace=policy)
        self.policy = policy
        self.limit = per_minute
        self._timeout = timeout_seconds
        self._retry_after = retry_after_seconds
        self._skip_until = 0.0
        self._failing = False

    async def hit(self, caller: str) -> None:
        if time.monotonic() < self._skip_until:
            UNAVAILABLE.inc()
            return
        try:
            async with asyncio.timeout(self._timeout):
                allowed = await self._limiter.hit(self._item, caller)
                stats = (
                    None if allowed else await self._limiter.get_window_stats(self._item, caller)
                )
        except Exception as error:  # whatever Redis or its client raise: fail open
            UNAVAILABLE.inc()
            self._skip_until = time.monotonic() + self._retry_after
            if not self._failing:
                log.warning(
                    "rate_limit_unavailable_failing_open", error=f"{type(error).__name__} {error}"
                )
            self._failing = True
            return
        if self._failing:
            log.info("rate_limit_available_again")
            self._failing = False
        if stats is None:
            DECISIONS.labels("allowed").inc()
            return
        DECISIONS.labels("limited").inc()
        raise RateLimitExceeded(
            policy=self.policy,
            limit=self.limit,
            window_seconds=self.window_seconds,
            retry_after_seconds=max(1, math.ceil(stats.reset_time - time.time())),
        )

    async def close(self) -> None:
        # The redis-py client the `limits` bridge built (its `storage`), when it has made one.
        client = getattr(getattr(self._storage, "bridge", None), "storage", None)
        if client is not None:
            with contextlib.suppress(Exception):  # closing must not fail a shutdown
                await client.aclose()


def install_rate_limit_problem(app: FastAPI) -> None:
    async def too_many(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RateLimitExceeded)
        wait = error.retry_after_seconds
        return problem_response(
            429,
            f"More than {error.limit} requests in {error.window_seconds} s; retry in {wait} s.",
            type_="urn:order-platform:problem:rate-limited",
            headers={
                "Retry-After": str(wait),
                "RateLimit-Policy": f'"{error.policy}";q={error.limit};w={error.window_seconds}',
                "RateLimit": f'"{error.policy}";r=0;t={wait}',
            },
        )

    app.add_exception_handler(RateLimitExceeded, too_many)
