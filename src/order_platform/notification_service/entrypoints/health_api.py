"""The worker's small HTTP app: health and metrics only (DESIGN.md: its own small port)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI

from order_platform.building_blocks.service_app import Started, service_app


def create_app(start: Callable[[], Awaitable[Started[None]]]) -> FastAPI:
    """`start` builds and starts the worker (bootstrap)."""
    return service_app(
        title="Notification Service",
        summary="Worker: one notification per order created. Health and metrics only.",
        start=start,
    )
