"""Liveness and readiness: ready only while every dependency answers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

Check = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Readiness:
    """`checks` must pass for the service to be ready; `optional` ones are only reported
    (e.g. a cache the service can do without)."""

    checks: Mapping[str, Check]
    optional: Mapping[str, Check] = field(default_factory=dict)
    # Facts reported as they are, e.g. `{"auth": "disabled"}`.
    notes: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 2.0

    async def report(self) -> tuple[bool, dict[str, str]]:
        async def run(check: Check) -> str:
            try:
                await asyncio.wait_for(check(), self.timeout_seconds)
            except Exception as error:
                return f"unavailable: {type(error).__name__} {error}".strip()
            return "ok"

        every = {**self.checks, **self.optional}
        results = dict(zip(every, await asyncio.gather(*map(run, every.values())), strict=True))
        ready = all(results[name] == "ok" for name in self.checks)
        return ready, {**results, **self.notes}


def health_router() -> APIRouter:
    """`/health/live` and `/health/ready`; the app keeps its `Readiness` in `app.state`."""
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/ready",
        responses={503: {"description": "A dependency does not answer; `checks` says which."}},
    )
    async def ready(request: Request) -> JSONResponse:
        readiness: Readiness = request.app.state.readiness
        ready, checks = await readiness.report()
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    return router
