"""The worker's small HTTP app: health and metrics (docs/design.md: its own small port), and the
internal notification times for the operator console."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI

from order_platform.building_blocks.http.problem import install_details
from order_platform.building_blocks.http.service_app import Started, service_app
from order_platform.notification_service.entrypoints.internal_api import (
    DETAILS,
    NotificationServiceApi,
    internal_router,
)


def create_app(start: Callable[[], Awaitable[Started[NotificationServiceApi]]]) -> FastAPI:
    """`start` builds and starts the worker (bootstrap)."""
    app = service_app(
        title="Notification Service",
        summary="Worker: one notification per order event, in order. Health and metrics only.",
        start=start,
    )
    install_details(app, DETAILS)
    app.include_router(internal_router)
    return app
