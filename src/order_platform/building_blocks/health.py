"""Liveness and readiness: ready only while every dependency answers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

Check = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: Mapping[str, Check]
    timeout_seconds: float = 2.0

    async def report(self) -> dict[str, str]:
        async def run(check: Check) -> str:
            try:
                await asyncio.wait_for(check(), self.timeout_seconds)
            except Exception as error:
                return f"unavailable: {type(error).__name__}"
            return "ok"

        results = await asyncio.gather(*(run(check) for check in self.checks.values()))
        return dict(zip(self.checks, results, strict=True))


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
        checks = await readiness.report()
        healthy = all(result == "ok" for result in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unavailable", "checks": checks},
            status_code=200 if healthy else 503,
        )

    return router
