"""The FastAPI skeleton every service shares: lifespan, problem+json, health, metrics, docs.

A service adds its own routes to the app this returns; its composition root provides `start`,
which builds the service when the server starts (never at import) and says how to stop it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI

from order_platform.building_blocks.http.body_limit import BodySizeLimit
from order_platform.building_blocks.http.problem import install_problem_handlers
from order_platform.building_blocks.http.request_metrics import HttpMetricsMiddleware
from order_platform.building_blocks.runtime.correlation import CorrelationIdMiddleware
from order_platform.building_blocks.runtime.health import Readiness, health_router
from order_platform.building_blocks.runtime.metrics import metrics_router
from order_platform.building_blocks.runtime.tracing import instrument_app, tracing_enabled


@dataclass(frozen=True, slots=True)
class Started[Api]:
    api: Api  # what the routes use, as `request.app.state.api`
    readiness: Readiness
    stop: Callable[[], Awaitable[None]]


def service_app[Api](
    *, title: str, summary: str, start: Callable[[], Awaitable[Started[Api]]]
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        started = await start()
        app.state.api = started.api
        app.state.readiness = started.readiness
        try:
            yield
        finally:
            await started.stop()

    app = FastAPI(title=title, version="1.0.0", summary=summary, lifespan=lifespan)
    install_problem_handlers(app)
    app.add_middleware(CorrelationIdMiddleware)
    app.add_middleware(HttpMetricsMiddleware)
    app.add_middleware(BodySizeLimit)  # every HTTP process: bodies over 64 KiB are 413
    app.include_router(health_router())
    app.include_router(metrics_router())
    if tracing_enabled():
        instrument_app(app)
    return app
