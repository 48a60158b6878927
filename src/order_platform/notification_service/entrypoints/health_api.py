"""The worker's small HTTP app: health and metrics only (DESIGN.md: its own small port)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from order_platform.building_blocks.health import Readiness, health_router
from order_platform.building_blocks.metrics import metrics_router
from order_platform.building_blocks.problem import install_problem_handlers

Start = Callable[[], Awaitable[tuple[Readiness, Callable[[], Awaitable[None]]]]]


def create_app(start: Start) -> FastAPI:
    """`start` builds and starts the worker (bootstrap); it returns readiness and shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        readiness, stop = await start()
        app.state.readiness = readiness
        try:
            yield
        finally:
            await stop()

    app = FastAPI(
        title="Notification Service",
        version="1.0.0",
        summary="Worker: one notification per order created. Health and metrics only.",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.include_router(health_router())
    app.include_router(metrics_router())
    return app
